package kit

import (
	"context"
	"fmt"
	"time"

	"github.com/gondis/gondis/ndis"
)

// Filter is the packet filter gondis's protocols bind with: frames to the
// adapter's address and broadcasts.
var Filter = ndis.PacketFilter{Types: ndis.PacketTypeDirected | ndis.PacketTypeBroadcast}

// bindTimeout bounds the OID request of SetFilter: a BindAdapter must not
// wait forever for a miniport that does not answer.
const bindTimeout = 5 * time.Second

// SetFilter sets the binding's packet filter to Filter, from a
// BindAdapter: it blocks until the miniport answers, for 5 s at most.
func SetFilter(b *ndis.Binding) error {
	ctx, cancel := context.WithTimeout(context.Background(), bindTimeout)
	defer cancel()
	r := &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentPacketFilter, Buffer: ndis.Ulong(Filter.Types)}
	if s := b.OidRequest(ctx, r); s != ndis.StatusSuccess {
		return fmt.Errorf("set %s: %w", ndis.OIDGenCurrentPacketFilter, s)
	}
	return nil
}
