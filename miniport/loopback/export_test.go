package loopback

// SetTestHooks installs the transmit and reset test hooks (nil: none) and
// returns a function that removes them.
func SetTestHooks(transmit, reset func()) (remove func()) {
	if transmit != nil {
		testHookTransmit.Store(&transmit)
	}
	if reset != nil {
		testHookReset.Store(&reset)
	}
	return func() {
		testHookTransmit.Store(nil)
		testHookReset.Store(nil)
	}
}

// ParamDoc returns the parameter table's doc lines, for the package doc's
// test.
func ParamDoc() string { return params.Doc() }
