package metrics

import (
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gondis/gondis/cmd/gondis/internal/api"
)

// Owners of details: the prefix of their metrics and the label that names
// the driver or protocol.
const (
	ownerDriver   = "driver"
	ownerProtocol = "protocol"
)

// detailName is what a detail's name, or one of its labels' names, must
// look like to become part of a metric: ndis.Detail's lower_snake_case.
var detailName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// detailSet turns the details of one scrape into metrics (see the package
// doc), keeping each family as the registry wants it: one help and one type
// a name, no series twice. A detail that would break that, or cannot be a
// metric (a bad name or label), is left out of the metrics, never failing
// the scrape; the status still shows it.
type detailSet struct {
	families map[string]family // by metric name
	series   map[string]bool   // name and label values, of the metrics made
}

// family is what every metric of one name shares.
type family struct {
	help string
	typ  prometheus.ValueType
}

func newDetailSet() *detailSet {
	return &detailSet{families: make(map[string]family), series: make(map[string]bool)}
}

// add sends the metrics of the details that who, a driver or a protocol
// (owner), reports on adapter.
func (s *detailSet) add(ch chan<- prometheus.Metric, owner, adapter, who string, ds []api.Detail) {
	for _, d := range ds {
		if m := s.metric(owner, adapter, who, d); m != nil {
			ch <- m
		}
	}
}

// metric returns the metric of one detail, or nil when it is left out.
func (s *detailSet) metric(owner, adapter, who string, d api.Detail) prometheus.Metric {
	if !detailName.MatchString(d.Name) {
		return nil
	}
	name := "gondis_" + owner + "_" + d.Name
	labels := []string{"adapter", owner}
	values := []string{adapter, who}
	for _, k := range slices.Sorted(maps.Keys(d.Labels)) {
		if !detailName.MatchString(k) {
			return nil
		}
		labels, values = append(labels, k), append(values, d.Labels[k])
	}
	typ, v := prometheus.GaugeValue, d.Value
	switch d.Kind {
	case api.KindCounter:
		typ = prometheus.CounterValue
		if !strings.HasSuffix(name, "_total") {
			name += "_total"
		}
	case api.KindGauge:
	case api.KindText:
		if d.Text == "" {
			return nil
		}
		// An info metric: the text is a label, named as the detail is.
		label := d.Name
		if slices.Contains(labels, label) {
			label = "text"
		}
		name += "_info"
		labels, values, v = append(labels, label), append(values, d.Text), 1
	default:
		return nil
	}
	f, ok := s.families[name]
	if !ok {
		f = family{help: d.Help, typ: typ}
		if f.help == "" {
			f.help = d.Name + ", as the " + owner + " reports it."
		}
		s.families[name] = f
	}
	key := name + "\xff" + strings.Join(labels, "\xff") + "\xff" + strings.Join(values, "\xff")
	if f.typ != typ || s.series[key] {
		return nil
	}
	m, err := prometheus.NewConstMetric(prometheus.NewDesc(name, f.help, labels, nil), typ, v, values...)
	if err != nil {
		return nil
	}
	s.series[key] = true
	return m
}
