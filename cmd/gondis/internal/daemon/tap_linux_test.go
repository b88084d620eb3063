package daemon_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gondis/gondis/cmd/gondis/internal/api"
	"github.com/gondis/gondis/cmd/gondis/internal/config"
	"github.com/gondis/gondis/cmd/gondis/internal/daemon"
)

// TestTAPStatus: a TAP adapter's status carries the miniport's own view,
// through the details it reports: its interface, its queues and its
// offload switches. Another adapter's status has none of it. It runs as
// root, in a network namespace it creates and removes.
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
		"      queues: \"2\"\n      vnet_hdr: \"on\"\n  - name: loop0\n    driver: loopback\n", ns)
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
	if !ok || len(a.Details) == 0 {
		t.Fatalf("tap0: %+v, want its miniport's details", a)
	}
	if ifname := textOf(a.Details, "gtd0"); ifname == nil {
		t.Errorf("no detail names the interface gtd0: %+v", a.Details)
	}
	queues := make(map[string]bool)
	var offloads []api.Detail
	for _, x := range a.Details {
		if q, ok := x.Labels["queue"]; ok {
			queues[q] = true
		}
		if x.Kind == api.KindGauge && strings.Contains(x.Name+x.Labelled(), "offload") {
			offloads = append(offloads, x)
		}
	}
	if len(queues) != 2 {
		t.Errorf("details of queues %v, want two queues", queues)
	}
	if len(offloads) != 3 {
		t.Errorf("offload switches %+v, want three: tx checksum, large send, receive", offloads)
	}
	for _, o := range offloads {
		if o.Value != 1 {
			t.Errorf("offload %s%s = %v, want on", o.Name, o.Labelled(), o.Value)
		}
	}
	if l, _ := d.Adapter("tap0"); l.Driver != "tap" {
		t.Errorf("driver %q", l.Driver)
	}
	for _, o := range d.Adapters() {
		if o.Name != "tap0" && textOf(o.Details, "gtd0") != nil {
			t.Errorf("%s, not a TAP adapter, shows the TAP interface: %+v", o.Name, o.Details)
		}
	}
}

// textOf returns the text detail whose text is text, or nil.
func textOf(ds []api.Detail, text string) *api.Detail {
	for i, x := range ds {
		if x.Kind == api.KindText && x.Text == text {
			return &ds[i]
		}
	}
	return nil
}
