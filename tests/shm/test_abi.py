"""The ABI as the agent sees it: the layout pin and enum lookups."""
from bsdnet.shm import abi
from bsdnet.shm.abi import ffi, lib

# One fingerprint per ABI version.  If this test fails, the shared layout
# (a struct, a field, an enum value) changed: bump BSDNET_ABI_VERSION in
# kmod/include/bsdnet_abi.h and add the new pin here.
FINGERPRINTS = {
    1: "c7a3e9a9be069a3beb633c1ad066d2c7232e9a3548e8b785c4b228870e9c0d71",
    # v2: flow bucket tags (rh_off_flowtags), flow hash SipHash-1-3.
    2: "48d49523a8fd706dff4e82ec9799609886523df4d138982dc83333d3c1f0c7d6",
    # v3: flow counts belong to fe_count_gen; claims no longer zero them;
    # the flow hash covers the key's 15 bytes (not the pad).
    3: "d9d85a258ed0e77f954c7a9113ea3f1b53c10bc722f7785c744b0ab9be89b74f",
    # v4: path MTU: vif_gw, rh_dp_flags (MSS clamp), rh_icmp_rate, ICMP
    # and MSS counters, drop reason MTU_EXCEEDED_NO_DF.
    4: "fc32451f9b89e67e3d1d89defa91140e066e496abf639e054e801f178b13b6c0",
    # v5: known tunnel endpoints (rh_off_endpoints, struct
    # bsdnet_ep_bucket), BSDNET_DPF_ANY_SOURCE, drop reasons
    # UNKNOWN_ENDPOINT and ENDPOINT_VRF.
    5: "a91df07e493a791cc76538175fc85698e1bf26299c9e130f276249a71f026eca",
}


def test_layout_fingerprint_pinned_for_this_abi_version():
    assert lib.BSDNET_ABI_VERSION in FINGERPRINTS, \
        "new ABI version: pin its layout fingerprint"
    assert abi.layout_fingerprint() == FINGERPRINTS[lib.BSDNET_ABI_VERSION], (
        "shared-memory layout changed without a BSDNET_ABI_VERSION bump")


def test_fingerprint_covers_the_shared_structs_only():
    assert "bsdnet_flow" in abi.ABI_STRUCTS
    assert "bsdnet_region_hdr" in abi.ABI_STRUCTS
    assert "bsdnet_flowtab" not in abi.ABI_STRUCTS  # process-local


def test_sizes_match_the_c_static_asserts():
    assert ffi.sizeof("struct bsdnet_region_hdr") == 4096
    assert ffi.sizeof("struct bsdnet_flow") == 64
    assert ffi.sizeof("struct bsdnet_flow_tags") == 8
    assert ffi.offsetof("struct bsdnet_vrf", "vrf_root") == 64


def test_drop_reason_names_come_from_the_enum():
    names = abi.drop_reason_names()
    assert len(names) == lib.BSDNET_DROP_MAX
    assert names[lib.BSDNET_DROP_NO_ROUTE] == "NO_ROUTE"
    assert names[lib.BSDNET_DROP_FLOW_TABLE_FULL] == "FLOW_TABLE_FULL"


def test_type_names():
    assert abi.nh_type_name(lib.BSDNET_NH_TUNNEL) == "TUNNEL"
    assert abi.vif_type_name(lib.BSDNET_VIF_FABRIC) == "FABRIC"
    assert abi.nh_type_name(99) == "TYPE_99"
    assert abi.enum_value("nh_type", "BSDNET_NH_ECMP") == lib.BSDNET_NH_ECMP
