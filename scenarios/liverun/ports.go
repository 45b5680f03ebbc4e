package liverun

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
)

// HoldPorts listens on n free loopback ports; the caller closes them
// just before its servers bind them, so that nothing it opens meanwhile
// (a proxy's listeners) takes one.
//
// The ports come from outside the kernel's ephemeral range. A port the
// kernel handed out for "127.0.0.1:0" is handed out again as the source
// port of some outgoing connection (a peer dialling another) as soon as
// it is closed, and the server that meant to bind it then fails with
// "address already in use". Ports outside the range are only ever taken
// by someone binding them by number, which another process doing the
// same thing avoids by starting at a random place. A server can still
// lose its port in between; it then exits, and the caller should say
// which.
func HoldPorts(n int) ([]net.Listener, error) {
	ports.Lock()
	defer ports.Unlock()
	if ports.spans == nil {
		ports.spans = nonEphemeral()
		ports.next = rand.IntN(spanSize(ports.spans))
	}
	size := spanSize(ports.spans)
	var ls []net.Listener
	for tried := 0; len(ls) < n; tried++ {
		if tried == size {
			for _, l := range ls {
				l.Close()
			}
			return nil, fmt.Errorf("reserving %d loopback ports: only %d of the %d outside the ephemeral range are free", n, len(ls), size)
		}
		port := spanPort(ports.spans, ports.next)
		ports.next = (ports.next + 1) % size
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// ports walks the non-ephemeral ports in turn, so that one process does
// not hand out a port twice in quick succession.
var ports struct {
	sync.Mutex
	spans [][2]int // inclusive port ranges
	next  int      // index into the spans taken end to end
}

// nonEphemeral returns the unprivileged port ranges below and above the
// kernel's ephemeral range (Linux's default when it cannot be read).
func nonEphemeral() [][2]int {
	low, high := 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var l, h int
		if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &l, &h); err == nil && l > 0 && h >= l && h <= 65535 {
			low, high = l, h
		}
	}
	var spans [][2]int
	if low > 10001 {
		spans = append(spans, [2]int{10000, low - 1})
	}
	if high < 65535 {
		spans = append(spans, [2]int{high + 1, 65535})
	}
	if len(spans) == 0 { // the whole space is ephemeral: nothing is safer than anything else
		spans = [][2]int{{1024, 65535}}
	}
	return spans
}

func spanSize(spans [][2]int) int {
	n := 0
	for _, s := range spans {
		n += s[1] - s[0] + 1
	}
	return n
}

func spanPort(spans [][2]int, i int) int {
	for _, s := range spans {
		if w := s[1] - s[0] + 1; i >= w {
			i -= w
			continue
		}
		return s[0] + i
	}
	panic("liverun: port index out of range")
}
