package ndis

// AdapterView is what a protocol may know of the adapter a binding is open
// on: its name, driver, state, address, link and limits. It is not the
// miniport's handle: nothing on it can change the adapter. Its methods may
// be called from any goroutine, inside any protocol handler.
type AdapterView struct{ a *Adapter }

// Name returns the adapter's name.
func (v AdapterView) Name() string { return v.a.name }

// Driver returns the name of the adapter's miniport driver.
func (v AdapterView) Driver() string { return v.a.driver.Name }

// State returns the adapter's operational state.
func (v AdapterView) State() AdapterState { return v.a.State() }

// MacAddress returns the adapter's current address, or the zero address
// when it has none.
func (v AdapterView) MacAddress() MacAddress { return v.a.MacAddress() }

// Link returns the adapter's current link state.
func (v AdapterView) Link() LinkState { return v.a.Link() }

// MTU returns the largest payload the adapter sends and receives, without
// the Ethernet header (OID_GEN_MAXIMUM_FRAME_SIZE).
func (v AdapterView) MTU() int { return v.a.MTU() }

// MTU returns the adapter's MTU: the general attributes' MtuSize, 1500 when
// the miniport set none.
func (a *Adapter) MTU() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return int(a.general.MtuSize)
}
