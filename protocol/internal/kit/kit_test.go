package kit

import (
	"slices"
	"testing"

	"github.com/gondis/gondis/ndis"
)

func TestFrames(t *testing.T) {
	l := ndis.Chain(ndis.NewNetBufferList([]byte{1}, []byte{2}), ndis.NewNetBufferList(), ndis.NewNetBufferList([]byte{3}))
	var got []byte
	for f := range Frames(l) {
		got = append(got, f[0])
		if f[0] == 2 {
			break
		}
	}
	if !slices.Equal(got, []byte{1, 2}) {
		t.Errorf("frames up to the break: %v", got)
	}
	got = got[:0]
	for f := range Frames(l) {
		got = append(got, f[0])
	}
	if !slices.Equal(got, []byte{1, 2, 3}) {
		t.Errorf("frames: %v", got)
	}
}

func TestStatusCounts(t *testing.T) {
	var c StatusCounts
	if m := c.Snapshot(); m == nil || len(m) != 0 {
		t.Errorf("empty Snapshot = %v", m)
	}
	mk := func(s ndis.Status) *ndis.NetBufferList { return &ndis.NetBufferList{Status: s} }
	c.Add(ndis.Chain(mk(ndis.StatusSuccess), mk(ndis.StatusResetInProgress), mk(ndis.StatusSuccess)))
	c.Add(mk(ndis.StatusFailure))
	m := c.Snapshot()
	m[ndis.StatusSuccess] = 99 // a copy
	ds := c.Details("completed", "NBLs completed")
	var got []string
	for _, d := range ds {
		if d.Name != "completed" || d.Help != "NBLs completed" || d.Kind != ndis.DetailCounter {
			t.Errorf("detail %+v", d)
		}
		got = append(got, d.Labels["status"])
		if d.Labels["status"] == ndis.StatusSuccess.String() && d.Value != 2 {
			t.Errorf("success counted %v, want 2", d.Value)
		}
	}
	want := []string{ndis.StatusFailure.String(), ndis.StatusResetInProgress.String(), ndis.StatusSuccess.String()}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v (sorted by name)", got, want)
	}
}

func TestFlag(t *testing.T) {
	if d := Flag("on", "h", true); d.Value != 1 || d.Kind != ndis.DetailGauge {
		t.Errorf("Flag(true) = %+v", d)
	}
	if d := Flag("on", "h", false); d.Value != 0 {
		t.Errorf("Flag(false) = %+v", d)
	}
}
