// Package vnet handles the virtio-net header that a TAP descriptor opened
// with IFF_VNET_HDR puts before every frame, so that large segments (GSO,
// TSO) and checksum offload cross between the kernel and the miniport.
// It is pure: frames in, frames out, no system calls, no allocations, no
// state, so any goroutine may call it on buffers of its own.
//
// # The header
//
// A Header is a struct virtio_net_hdr of HeaderLen bytes in the host's
// byte order. FlagNeedsCsum is the kernel's CHECKSUM_PARTIAL: the checksum
// field at CsumStart+CsumOffset holds a partial sum, and the checksum is
// finished by summing everything from CsumStart to the end of the packet,
// that field included, and storing the complement. A GSO type with
// GSOSize says that the frame is a large one to be cut into segments of
// GSOSize payload bytes. On a TAP, offsets count from the Ethernet header.
//
// # Receive: kernel to miniport
//
// Complete finishes a partial checksum in place. Split cuts a GSO frame
// into complete frames with every checksum computed in full (and does
// Complete's job on a copy for a frame without GSO); Segments counts them
// first. Split trusts the packet's own header lengths, not the header's
// HdrLen, which is a hint.
//
// # Send: miniport to kernel
//
// NDIS and Linux put different pseudo-header sums in the TCP checksum
// field of a large send. For LSOv2, NDIS leaves the IP length field 0 and
// sums the pseudo-header without the TCP length (addresses and protocol
// only): the length of each segment is not known yet. Linux wants the
// IP length set, a valid IPv4 header checksum, and the folded, not
// complemented, pseudo-header sum with the whole TCP length, as
// __tcp_v4_send_check leaves it; its GSO code then swaps in each
// segment's length. For checksum offload without large send, both sides
// agree: the pseudo-header sum with the length. PrepareSend rewrites a
// copy of the headers for Linux, the frame itself staying the protocol's,
// and computes the pseudo-header sum from the addresses either way.
// SegmentSend does the work in software, for when offload is off.
//
// # What is supported
//
// Ethernet frames with at most one 802.1Q tag, IPv4 (with options) and
// IPv6 without extension headers, TCP (with options) and UDP. GSO types
// TCPv4 and TCPv6, with or without ECN, and UDP_L4 on receive; TCP large
// send on send. Not supported, with ErrUnsupported: UFO (GSOUDP), IPv6
// extension headers, stacked VLAN tags, tunnels, other ethertypes with
// offload.
package vnet
