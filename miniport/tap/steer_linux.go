package tap

import (
	"encoding/binary"
	"errors"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Queue steering. A multi-queue tun picks the queue of each frame it hands
// to user space by a flow hash, and to keep its table of flows it hashes
// every frame user space writes too: about a tenth of the kernel's work
// for a small frame. With a steering program (TUNSETSTEERINGEBPF) it does
// neither: the program picks the queue. Ours hashes what flowHash hashes
// for the adapter's sends (IPv4 addresses and, for TCP and UDP, ports) and
// takes the kernel's own hash of anything else. Where the kernel refuses
// the program (no BPF), the queues are the kernel's to pick, as before.

// steeringProgram is the program, a BPF socket filter: its result modulo
// the number of queues is the queue. LD_ABS and LD_IND read the frame in
// network byte order; a read past its end returns 0 (queue 0).
var steeringProgram = []bpfInsn{
	{code: bpfMov64X, regs: 6 | 1<<4},            // 0: r6 = r1 (the context, for LD_ABS)
	{code: bpfLdAbsH, imm: 12},                   // 1: r0 = EtherType
	{code: bpfJneK, off: 19, imm: 0x0800},        // 2: not IPv4: 22
	{code: bpfLdAbsW, imm: 26},                   // 3: r0 = source address
	{code: bpfMov64X, regs: 7 | 0<<4},            // 4: r7 = r0
	{code: bpfLdAbsW, imm: 30},                   // 5: r0 = destination address
	{code: bpfXor64X, regs: 7 | 0<<4},            // 6: r7 ^= r0
	{code: bpfLdAbsH, imm: 20},                   // 7: r0 = flags and fragment offset
	{code: bpfJsetK, off: 9, imm: 0x3fff},        // 8: a fragment, no ports: 18
	{code: bpfLdAbsB, imm: 23},                   // 9: r0 = protocol
	{code: bpfJeqK, off: 1, imm: 6},              // 10: TCP: 12
	{code: bpfJneK, off: 6, imm: 17},             // 11: not UDP: 18
	{code: bpfLdAbsB, imm: 14},                   // 12: r0 = version and IHL
	{code: bpfAnd32K, imm: 0x0f},                 // 13: w0 &= 0xf
	{code: bpfLsh32K, imm: 2},                    // 14: w0 <<= 2: the IPv4 header's length
	{code: bpfMov64X, regs: 8 | 0<<4},            // 15: r8 = r0
	{code: bpfLdIndW, regs: 0 | 8<<4, imm: 14},   // 16: r0 = the ports
	{code: bpfXor64X, regs: 7 | 0<<4},            // 17: r7 ^= r0
	{code: bpfMov32X, regs: 0 | 7<<4},            // 18: w0 = w7
	{code: bpfMul32K, imm: -0x61c88647},          // 19: w0 *= 0x9e3779b9 (Fibonacci hashing)
	{code: bpfRsh32K, imm: 16},                   // 20: w0 >>= 16
	{code: bpfExit},                              // 21: return w0
	{code: bpfLdxW, regs: 0 | 6<<4, off: 4 * 17}, // 22: r0 = __sk_buff.hash
	{code: bpfExit},                              // 23: return r0
}

// bpfInsn is a struct bpf_insn: regs holds dst_reg in its low and src_reg
// in its high nibble.
type bpfInsn struct {
	code uint8
	regs uint8
	off  int16
	imm  int32
}

// BPF opcodes (linux/bpf.h, linux/bpf_common.h).
const (
	bpfLdAbsB = 0x30 // BPF_LD | BPF_ABS | BPF_B
	bpfLdAbsH = 0x28 // BPF_LD | BPF_ABS | BPF_H
	bpfLdAbsW = 0x20 // BPF_LD | BPF_ABS | BPF_W
	bpfLdIndW = 0x40 // BPF_LD | BPF_IND | BPF_W
	bpfLdxW   = 0x61 // BPF_LDX | BPF_MEM | BPF_W
	bpfMov64X = 0xbf // BPF_ALU64 | BPF_MOV | BPF_X
	bpfMov32X = 0xbc // BPF_ALU | BPF_MOV | BPF_X
	bpfXor64X = 0xaf // BPF_ALU64 | BPF_XOR | BPF_X
	bpfAnd32K = 0x54 // BPF_ALU | BPF_AND | BPF_K
	bpfLsh32K = 0x64 // BPF_ALU | BPF_LSH | BPF_K
	bpfRsh32K = 0x74 // BPF_ALU | BPF_RSH | BPF_K
	bpfMul32K = 0x24 // BPF_ALU | BPF_MUL | BPF_K
	bpfJeqK   = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
	bpfJneK   = 0x55 // BPF_JMP | BPF_JNE | BPF_K
	bpfJsetK  = 0x45 // BPF_JMP | BPF_JSET | BPF_K
	bpfExit   = 0x95 // BPF_JMP | BPF_EXIT

	bpfProgLoad             = 5 // BPF_PROG_LOAD
	bpfProgTypeSocketFilter = 1 // BPF_PROG_TYPE_SOCKET_FILTER
)

// bpfProgLoadAttr is the head of union bpf_attr for BPF_PROG_LOAD.
type bpfProgLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       uint64
	license     uint64
	logLevel    uint32
	logSize     uint32
	logBuf      uint64
	kernVersion uint32
	progFlags   uint32
}

// loadSteeringProgram loads the program and returns its descriptor.
func loadSteeringProgram() (int, error) {
	license := []byte("GPL\x00")
	attr := bpfProgLoadAttr{
		progType: bpfProgTypeSocketFilter,
		insnCnt:  uint32(len(steeringProgram)),
		insns:    uint64(uintptr(unsafe.Pointer(&steeringProgram[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
	}
	fd, _, e := unix.Syscall(unix.SYS_BPF, bpfProgLoad, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(license)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// setSteering attaches the steering program to the interface of the queue
// descriptor fd. The interface keeps the program; its descriptor is
// closed.
func setSteering(fd int) error {
	prog, err := loadSteeringProgram()
	if err != nil {
		return err
	}
	defer unix.Close(prog)
	return unix.IoctlSetPointerInt(fd, unix.TUNSETSTEERINGEBPF, prog)
}

// steerHash is what the program computes for an IPv4 frame, for tests:
// the queue of f is steerHash(f) % queues.
func steerHash(f []byte) (uint32, error) {
	if len(f) < 34 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
		return 0, errors.New("tap: not an IPv4 frame")
	}
	h := binary.BigEndian.Uint32(f[26:]) ^ binary.BigEndian.Uint32(f[30:])
	if binary.BigEndian.Uint16(f[20:])&0x3fff == 0 && (f[23] == 6 || f[23] == 17) {
		ihl := int(f[14]&0x0f) * 4
		if len(f) < 14+ihl+4 {
			return 0, nil // the program's LD_IND fails: it returns 0
		}
		h ^= binary.BigEndian.Uint32(f[14+ihl:])
	}
	return h * 0x9e3779b9 >> 16, nil
}
