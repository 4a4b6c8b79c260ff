/*
 * libFuzzer harness: arbitrary frames into bsdnet_dp_input() on every kind
 * of vif of a populated region (tests/core's topology), with the agent's
 * side simulated: trapped flows get published (FORWARD or DROP) and
 * released, the clock moves and the tick runs.  State carries over between
 * inputs so flows reach every state.
 *
 * Input: byte 0 picks the vif and the agent's moves, byte 1 the headroom
 * and contiguous length (and, with one of the headroom bits, whether the
 * dp is its region's sole forwarder), the rest is the frame.
 */
#include <stdlib.h>

#include "th.h"

static const uint32_t vifs[8] = { VIF_A, VIF_B, VIF_F, VIF_C, 0, 5, 15, 99 };
static int inputs;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct th_frame f, g;
	static uint8_t bufs[3][sizeof(g.buf)];
	uint32_t flow, gen;
	uint8_t ctl, lay;

	if (size < 2 || size > 2 + 3000)
		return (0);
	if (inputs++ % 5000 == 0)
		th_setup();	/* fresh tables now and then */
	th_reset_rec();
	ctl = data[0];
	lay = data[1];
	memset(&f, 0, sizeof(f));
	f.headroom = (lay & 1) ? 0 : 64 + (lay & 0x3e);
	f.len = (uint32_t)(size - 2);
	memcpy(f.buf + f.headroom, data + 2, f.len);
	th_pkt(&f);
	/* Sometimes the home gives fewer contiguous bytes than it should:
	 * the core must still stay in bounds. */
	if ((lay & 0x40) && f.pkt.p_len > 192)
		f.pkt.p_len = 192;
	th_tx_ok = (ctl & 0x40) == 0;
	bsdnet_dp_set_sole(&th_dp, (lay & 0x02) != 0);
	if ((lay & 0x80) && f.len < sizeof(g.buf) - 128) {
		/* The same frame three times as a burst (copies: the core
		 * rewrites each in place). */
		struct bsdnet_pkt pk[3];
		int i;

		for (i = 0; i < 3; i++) {
			memcpy(&bufs[i][f.headroom], f.pkt.p_data, f.len);
			pk[i] = f.pkt;
			pk[i].p_data = &bufs[i][f.headroom];
		}
		bsdnet_dp_input_burst(&th_dp, vifs[ctl & 7], pk, 3);
	} else {
		th_input(vifs[ctl & 7], &f);
	}
	if (th_ntrap > 0 && th_trap[0].r_hdr.th_flow != 0xffffffffu &&
	    (ctl & 0x08)) {
		flow = th_trap[0].r_hdr.th_flow;
		gen = th_trap[0].r_hdr.th_gen;
		(void)bsdnet_flow_publish(&th_dp.dp_ft, flow, gen,
		    (ctl & 0x10) ? BSDNET_FA_DROP : BSDNET_FA_FORWARD, 0,
		    0xffffffffu);
		bsdnet_dp_release(&th_dp, flow, gen);
	}
	if (ctl & 0x20) {
		th_now += (uint64_t)(lay >> 2) * 50;
		bsdnet_dp_tick(&th_dp);
	}
	if (ctl & 0x80)
		bsdnet_dp_release(&th_dp, (uint32_t)lay * 3, lay >> 4);
	return (0);
}
