/*
 * libFuzzer harness: arbitrary bytes written over the shared tables (the
 * header stays valid, the tables become garbage), then packets.  This is
 * the hostile-agent case: the datapath must only drop, never read or
 * write outside the region or its packet.
 *
 * Input: u16 table offset, u16 n, n bytes of garbage (repeated in up to
 * four patches), then frames as [vif byte][u16 length][bytes]...
 */
#include <stdlib.h>

#include "th.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t
get16(const uint8_t *p)
{
	return ((uint16_t)(p[0] << 8 | p[1]));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct th_frame f;
	struct bsdnet_region_hdr *h;
	uint64_t tables, off;
	size_t pos = 0, n, len;
	int patch;

	th_setup();
	h = th_hdr();
	tables = h->rh_size - h->rh_off_vifs;
	for (patch = 0; patch < 4 && pos + 4 <= size; patch++) {
		off = ((uint64_t)get16(data + pos) * 7) % tables;
		n = get16(data + pos + 2) % 512;
		pos += 4;
		if (n > size - pos)
			n = size - pos;
		if (n > tables - off)
			n = (size_t)(tables - off);
		memcpy(th_base + h->rh_off_vifs + off, data + pos, n);
		pos += n;
	}
	while (pos + 3 <= size) {
		uint32_t vif = data[pos] % 20;

		len = get16(data + pos + 1) % 2048;
		pos += 3;
		if (len > size - pos)
			len = size - pos;
		memset(&f, 0, sizeof(f));
		f.headroom = 64;
		f.len = (uint32_t)len;
		memcpy(f.buf + 64, data + pos, len);
		th_pkt(&f);
		/* Garbage flow counts under both counting disciplines. */
		bsdnet_dp_set_sole(&th_dp, (vif & 2) != 0);
		th_input(vif, &f);
		pos += len;
		if (vif & 1)
			bsdnet_dp_release(&th_dp, (uint32_t)len, vif);
		if (vif == 19) {
			th_now += 3000;
			bsdnet_dp_tick(&th_dp);
		}
	}
	return (0);
}
