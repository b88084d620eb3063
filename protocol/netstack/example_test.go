package netstack_test

import (
	"bufio"
	"context"
	"fmt"
	"log"

	"github.com/gondis/gondis/miniport/sim"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/protocol/netstack"
)

// Two hosts, each a runtime with a stack bound to a sim adapter; the two
// adapters share a wire. b serves a line over TCP, a reads it.
func Example() {
	ctx := context.Background()
	wires := sim.Driver() // one driver value: its adapters share its wires
	var hosts []*netstack.Stack
	for i, name := range []string{"a", "b"} {
		rt, st := ndis.New(), netstack.New()
		defer rt.Close(ctx)
		defer st.Close(ctx)
		if err := rt.RegisterMiniportDriver(wires); err != nil {
			log.Fatal(err)
		}
		if err := rt.RegisterProtocolDriver(st.Driver()); err != nil {
			log.Fatal(err)
		}
		if _, err := rt.AddAdapter(ctx, name, "sim", map[string]string{"wire": "w0"}); err != nil {
			log.Fatal(err)
		}
		addr := fmt.Sprintf("10.0.0.%d/24", i+1)
		if _, err := rt.Bind(ctx, netstack.Name, name, ndis.BindParams(map[string]string{"addr": addr})); err != nil {
			log.Fatal(err)
		}
		hosts = append(hosts, st)
	}

	l, err := hosts[1].Listen("tcp", "10.0.0.2:80")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		fmt.Fprintln(c, "hello from b")
		c.Close()
	}()
	c, err := hosts[0].DialContext(ctx, "tcp", "10.0.0.2:80")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(line)
	// Output: hello from b
}
