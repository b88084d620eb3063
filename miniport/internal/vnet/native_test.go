package vnet_test

import "unsafe"

// nativePut writes v in the host's byte order, found without
// encoding/binary.
func nativePut(b []byte, v uint16) {
	x := uint16(0x0102)
	if *(*byte)(unsafe.Pointer(&x)) == 0x02 { // little-endian
		b[0], b[1] = byte(v), byte(v>>8)
	} else {
		b[0], b[1] = byte(v>>8), byte(v)
	}
}
