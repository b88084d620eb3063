package tap

import "golang.org/x/sys/unix"

// SetOpenHook makes every later open of an interface (Initialize's, a
// reset's) call f first and fail with its error; nil removes the hook.
func SetOpenHook(f func() error) {
	if f == nil {
		openHook.Store(nil)
		return
	}
	openHook.Store(&f)
}

// SteerHash is what the steering program computes for an IPv4 frame.
var SteerHash = steerHash

// SteeringAvailable reports whether this kernel takes the steering
// program.
func SteeringAvailable() error {
	fd, err := loadSteeringProgram()
	if err == nil {
		unix.Close(fd)
	}
	return err
}
