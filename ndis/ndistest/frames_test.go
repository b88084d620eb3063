package ndistest_test

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

var (
	hostA = ndistest.Host{MAC: ndis.MacAddress{2, 0, 0, 0, 0, 1}, IP: netip.MustParseAddr("10.9.0.1")}
	hostB = ndistest.Host{MAC: ndis.MacAddress{2, 0, 0, 0, 0, 2}, IP: netip.MustParseAddr("10.9.0.2")}
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFrames compares each builder with a frame written out by hand (the
// checksums computed apart from gondis).
func TestFrames(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"Ethernet", ndistest.Ethernet(ndis.BroadcastAddress, hostA.MAC, 0x88b5, []byte{1, 2, 3}),
			"ffffffffffff" + "020000000001" + "88b5" + "010203"},
		{"Numbered", ndistest.Numbered(0x01020304, 7), "01020304" + "08090a"},
		{"Numbered short", ndistest.Numbered(0x01020304, 3), "000000"},
		{"ARPRequest", ndistest.ARPRequest(hostA, hostB.IP),
			"ffffffffffff" + "020000000001" + "0806" + "0001" + "0800" + "0604" + "0001" +
				"020000000001" + "0a090001" + "000000000000" + "0a090002"},
		{"ARPReply", ndistest.ARPReply(hostB, hostA),
			"020000000001" + "020000000002" + "0806" + "0001" + "0800" + "0604" + "0002" +
				"020000000002" + "0a090002" + "020000000001" + "0a090001"},
		{"EchoRequest", ndistest.EchoRequest(hostA, hostB, 0x1234, 7, []byte("abc")),
			"020000000002" + "020000000001" + "0800" +
				"4500001f00000000400166ca" + "0a090001" + "0a090002" +
				"0800" + "2162" + "1234" + "0007" + "616263"},
		{"UDP", ndistest.UDP(hostA, hostB, 5353, 53, []byte("hello")),
			"020000000002" + "020000000001" + "0800" +
				"4500002100000000401166b8" + "0a090001" + "0a090002" +
				"14e9" + "0035" + "000d" + "92cf" + "68656c6c6f"},
	} {
		if want := unhex(t, tc.want); !bytes.Equal(tc.got, want) {
			t.Errorf("%s:\n got %x\nwant %x", tc.name, tc.got, want)
		}
	}
}

// TestEchoReplyAnswersRequest: a reply is the request with the hosts
// swapped and the type 0, both with right checksums.
func TestEchoReplyAnswersRequest(t *testing.T) {
	payload := []byte("an odd-length payload")
	req := ndistest.EchoRequest(hostA, hostB, 9, 65535, payload)
	rep := ndistest.EchoReply(hostB, hostA, 9, 65535, payload)
	if len(req) != len(rep) {
		t.Fatalf("lengths %d and %d", len(req), len(rep))
	}
	for _, f := range [][]byte{req, rep} {
		ip := f[ndis.EthernetHeaderSize:]
		if c := ndistest.Checksum(ip[:20]); c != 0 {
			t.Errorf("IPv4 header checksum off by %#04x", c)
		}
		if c := ndistest.Checksum(ip[20:]); c != 0 {
			t.Errorf("ICMP checksum off by %#04x", c)
		}
	}
	if rep[ndis.EthernetHeaderSize+20] != 0 || req[ndis.EthernetHeaderSize+20] != 8 {
		t.Errorf("ICMP types %d and %d", req[34], rep[34])
	}
	if !bytes.Equal(rep[0:6], hostA.MAC[:]) || !bytes.Equal(rep[26:30], hostB.IP.AsSlice()) {
		t.Errorf("reply not from B to A: %x", rep[:34])
	}
}

func TestFramesRefuseIPv6(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("an IPv6 host did not panic")
		}
	}()
	ndistest.ARPRequest(ndistest.Host{IP: netip.MustParseAddr("::1")}, hostB.IP)
}
