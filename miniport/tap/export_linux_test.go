package tap

// SetOpenHook makes every later open of an interface (Initialize's, a
// reset's) call f first and fail with its error; nil removes the hook.
func SetOpenHook(f func() error) {
	if f == nil {
		openHook.Store(nil)
		return
	}
	openHook.Store(&f)
}
