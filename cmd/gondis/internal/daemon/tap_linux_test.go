package daemon_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/gondis/gondis/cmd/gondis/internal/config"
	"github.com/gondis/gondis/cmd/gondis/internal/daemon"
)

// TestTAPStatus: a TAP adapter's status carries the miniport's own view:
// its interface, its queues, its steering and its offload switches. It
// runs as root, in a network namespace it creates and removes.
func TestTAPStatus(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("daemon: skipped, needs root to create a network namespace and a TAP interface")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("daemon: skipped, ip (iproute2) is not installed")
	}
	ns := fmt.Sprintf("gondis-d%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	defer func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del: %v\n%s", err, out)
		}
	}()
	yaml := fmt.Sprintf("adapters:\n  - name: tap0\n    driver: tap\n    params:\n      name: gtd0\n      netns: %s\n"+
		"      queues: \"2\"\n      vnet_hdr: \"on\"\n", ns)
	cfg, err := config.Parse("t.yaml", []byte(yaml), daemon.Known())
	if err != nil {
		t.Fatal(err)
	}
	d := start(t, cfg)
	defer func() {
		if err := d.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	a, ok := d.Adapter("tap0")
	if !ok || a.TAP == nil {
		t.Fatalf("tap0: %+v, want its TAP status", a)
	}
	if tp := a.TAP; tp.Interface != "gtd0" || len(tp.Queues) != 2 || !tp.TxChecksum || !tp.LargeSend || !tp.Receive {
		t.Errorf("TAP status %+v, want gtd0, two queues, every offload on", *tp)
	}
	if l, _ := d.Adapter("tap0"); l.Driver != "tap" {
		t.Errorf("driver %q", l.Driver)
	}
	for _, o := range d.Adapters() {
		if o.Name != "tap0" && o.TAP != nil {
			t.Errorf("%s, not a TAP adapter, has a TAP status", o.Name)
		}
	}
}
