package checker

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/env"
)

func receive(t int64, dest, rs string, origin, seq int64, order string, dup int64, body string) env.Record {
	return env.Record{Time: t, Node: env.NodeID("ext/" + dest), Kind: "endpoint.receive", Fields: []env.Field{
		env.Str("destination", dest), env.Str("key", fmt.Sprintf("%s-%d", rs, origin)), env.Str("order", order),
		env.Int("seq", seq), env.Str("replicaset", rs), env.Int("dup", dup), env.Str("body", body)}}
}

func TestOutboundChecker(t *testing.T) {
	good := []env.Record{
		receive(1, "audit", "rs1", 1, 1, "a", 0, "b1"),
		receive(2, "audit", "rs1", 2, 2, "b", 0, "b2"),
		receive(3, "audit", "rs1", 1, 1, "a", 1, "b1"), // a duplicate, taken once
		receive(4, "audit", "rs1", 3, 3, "a", 0, "b3"),
	}
	final := []OutboundFinal{{Replicaset: "rs1", Tail: 4, Repaired: []uint64{4}}}
	for _, c := range []struct {
		name  string
		trace []env.Record
		final []OutboundFinal
		want  Verdict
		why   string
	}{
		{"valid", good, final, Valid, "4 outbound messages"},
		{"nothing", nil, nil, NA, "no outbound"},
		{"lost", good, []OutboundFinal{{Replicaset: "rs1", Tail: 6, Repaired: []uint64{4}}}, Invalid, "2 outbound messages never reached their destination nor the repair queue (positions 5, 6)"},
		{"waiting", good, []OutboundFinal{{Replicaset: "rs1", Tail: 4, Waiting: []uint64{4}}}, Invalid, "still wait after the recovery"},
		{"out of order", append(good[:2:2], receive(3, "audit", "rs1", 3, 3, "b", 0, "x"), receive(4, "audit", "rs1", 4, 2, "b", 0, "y")),
			[]OutboundFinal{{Replicaset: "rs1", Tail: 4}}, Invalid, "took position 2 of key \"b\" after position 3: out of order"},
		{"effect twice", append(good[:2:2], receive(3, "audit", "rs1", 1, 1, "a", 0, "b1")), final, Invalid, "took message rs1-1 as new twice"},
		{"body changed", append(good[:2:2], receive(3, "audit", "rs1", 1, 1, "a", 1, "zz")), final, Invalid, "with another body"},
		{"foreign key", []env.Record{receive(1, "audit", "rs1", 1, 1, "a", 0, "b")}, nil, Valid, ""},
	} {
		if c.name == "foreign key" {
			c.trace[0].Fields[1] = env.Str("key", "rs2-1")
			c.want, c.why = Invalid, "not one of replicaset rs1"
		}
		res := Outbound(c.trace, c.final)
		if res.Verdict != c.want || !strings.Contains(res.Explanation, c.why) {
			t.Errorf("%s: %s: %s", c.name, res.Verdict, res.Explanation)
		}
	}
}
