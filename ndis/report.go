package ndis

// Reporter is an optional interface of a Miniport or a Protocol: it reports
// the driver's own counters and details (a TAP adapter's queues and
// errors, a traffic generator's replies), which programs show beside the
// runtime's counters with no code of the driver's: the gondis daemon puts
// them in its status, its JSON API and its Prometheus metrics.
//
// Report may be called at any time from any goroutine, concurrently with
// every handler; it must not block on the datapath and must not call the
// runtime. It returns a fresh slice each time.
type Reporter interface {
	Report() []Detail
}

// DetailKind says how a Detail's value behaves.
type DetailKind uint8

// Detail kinds.
const (
	DetailCounter DetailKind = iota // a count that only grows (reset only with the driver's state)
	DetailGauge                     // a value that goes up and down, or a flag (1 or 0)
	DetailText                      // text, in Text: an interface name, the last error
)

func (k DetailKind) String() string {
	switch k {
	case DetailCounter:
		return "counter"
	case DetailGauge:
		return "gauge"
	case DetailText:
		return "text"
	}
	return "DetailKind(?)"
}

// Detail is one value a driver reports of itself.
type Detail struct {
	// Name is lower_snake_case and stable ("rcv_gso", "last_error"); with
	// Labels it identifies the value within its reporter.
	Name string
	Help string // one line, for people and for metric help texts
	Kind DetailKind
	// Value holds a counter's or gauge's value, Text a text detail's.
	Value float64
	Text  string
	// Labels tell apart values of the same name: {"queue": "0"}. Nil for
	// most details.
	Labels map[string]string
}

// Details returns what the adapter's miniport reports of itself, or nil
// when it is no Reporter or has not been initialized.
func (a *Adapter) Details() []Detail {
	if r, ok := a.MiniportContext().(Reporter); ok {
		return r.Report()
	}
	return nil
}

// Details returns what the binding's protocol reports of itself, or nil
// when it is no Reporter.
func (b *Binding) Details() []Detail {
	if r, ok := b.ProtocolContext().(Reporter); ok {
		return r.Report()
	}
	return nil
}
