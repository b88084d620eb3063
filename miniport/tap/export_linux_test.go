package tap

import (
	"golang.org/x/sys/unix"

	"github.com/gondis/gondis/ndis"
)

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

// OffloadSet returns the buffer of a set of ndis.OIDTCPOffloadParameters
// with the same setting in each of its five checksum fields and its two
// LSOv2 fields; every other field says no change.
func OffloadSet(checksum, lsoV2 uint8) []byte {
	return ndis.OffloadParameters{
		IPv4Checksum: checksum, TCPIPv4Checksum: checksum, UDPIPv4Checksum: checksum,
		TCPIPv6Checksum: checksum, UDPIPv6Checksum: checksum,
		LsoV2IPv4: lsoV2, LsoV2IPv6: lsoV2,
	}.Marshal()
}
