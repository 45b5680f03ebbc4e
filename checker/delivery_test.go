package checker

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// deliveryTrace builds an ingest run's trace: lines are the clients'
// operations ("enqueue ID EXPECT OUTCOME [NOTE]"), the final reads
// ("stored LABEL HISTORY", "absent LABEL") and the final queue read
// ("queue JSON"), and settle/state events as given.
func deliveryTrace(t *testing.T, lines ...string) string {
	t.Helper()
	var b strings.Builder
	tm := 0
	for i, l := range lines {
		tm += 10
		f := strings.SplitN(l, " ", 5)
		switch f[0] {
		case "enqueue":
			fmt.Fprintf(&b, `{"time":%d,"node":"c1","kind":"client.invoke","process":1,"seq":%d,"f":"enqueue","key":%q,"value":"{}","expect":%q}`+"\n",
				tm, i, f[1], strings.Trim(f[2], "-"))
			note := ""
			if len(f) > 4 {
				note = f[4]
			}
			fmt.Fprintf(&b, `{"time":%d,"node":"c1","kind":"client.%s","process":1,"seq":%d,"f":"enqueue","key":%q,"value":"{}","expect":%q,"index":3,"note":%q,"replicaset":"rs1","position":%d}`+"\n",
				tm+1, f[3], i, f[1], strings.Trim(f[2], "-"), note, i+1)
		case "stored", "absent":
			h := "0"
			if len(f) > 2 {
				h = f[2]
			}
			fmt.Fprintf(&b, `{"time":%d,"node":"final","kind":"client.ok","process":99,"seq":%d,"f":"read-object","key":%q,"value":"{}","absent":%v,"type":"Customer","version":2,"index":9,"note":"n1","history":%s}`+"\n",
				tm, i, f[1], f[0] == "absent", h)
		case "queue":
			fmt.Fprintf(&b, `{"time":%d,"node":"final","kind":"client.ok","process":99,"seq":%d,"f":"read-queue","key":"rs1","value":%q,"index":9,"note":""}`+"\n",
				tm, i, strings.TrimPrefix(l, "queue "))
		default:
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func TestDelivery(t *testing.T) {
	q := func(depth int, entries ...string) string {
		var es []string
		for _, e := range entries {
			id, reason, _ := strings.Cut(e, "=")
			es = append(es, fmt.Sprintf(`{"position":1,"id":%q,"attempts":1,"reason":%q}`, id, reason))
		}
		return fmt.Sprintf(`queue {"replicaset":"rs1","depth":%d,"repairs":%d,"outbound":0,"settled":3,"entries":[%s]}`, depth, len(entries), strings.Join(es, ","))
	}
	for _, tc := range []struct {
		name    string
		lines   []string
		want    Verdict
		explain string
	}{
		{"stored and repaired", []string{"enqueue m1 Customer/m1 ok", "enqueue m2 - ok", "enqueue m3 Customer/m3 fail busy: full",
			`{"time":35,"node":"n1","kind":"queue.settle","group":"rs1","id":"q/rs1/1/2","settled":2}`,
			`{"time":35,"node":"n1","kind":"queue.state","group":"rs1","depth":2}`,
			"stored Customer/m1", "absent Customer/m3", q(0, "m2=no rule matched")},
			Valid, "3 messages sent, 2 acknowledged: 1 stored once, 1 in the repair queue with a reason; 1 refused (1 of them busy at least once)"},
		{"latency and depth", []string{"enqueue m1 Customer/m1 ok",
			`{"time":35,"node":"n1","kind":"queue.settle","group":"rs1","id":"q/rs1/1/1","settled":1}`,
			`{"time":35,"node":"n1","kind":"queue.state","group":"rs1","depth":7}`,
			"stored Customer/m1", q(0)},
			Valid, "p50 24ns, p99 24ns, max 24ns over 1 messages; deepest queue 7 (rs1)"},
		{"lost", []string{"enqueue m1 Customer/m1 ok", "absent Customer/m1", q(0)}, Invalid, "message m1 was acknowledged"},
		{"twice", []string{"enqueue m1 Customer/m1 ok", "stored Customer/m1 1", q(0)}, Invalid, "message m1 took effect 2 times"},
		{"both", []string{"enqueue m1 Customer/m1 ok", "stored Customer/m1", q(0, "m1=x")}, Invalid, "both stored"},
		{"no reason", []string{"enqueue m1 - ok", q(0, "m1=")}, Invalid, "without a reason"},
		{"refused took effect", []string{"enqueue m1 Customer/m1 fail busy", "stored Customer/m1", q(0)}, Invalid, "refused every time"},
		{"unknown took effect", []string{"enqueue m1 Customer/m1 info", "stored Customer/m1", q(0)}, Valid, "1 of unknown outcome that took effect once"},
		{"bad stored", []string{"enqueue m1 - ok", q(0)}, Invalid, "neither stored nor in the repair queue"},
		{"still waiting", []string{"enqueue m1 Customer/m1 ok", "stored Customer/m1", q(2)}, Invalid, "2 messages still wait in rs1"},
		{"read missing", []string{"enqueue m1 Customer/m1 ok", q(0)}, Unknown, "the final read of Customer/m1"},
		{"queue read missing", []string{"enqueue m1 Customer/m1 ok", "stored Customer/m1"}, Unknown, "the final read of the queues"},
		{"nothing sent", []string{q(0)}, NA, "no messages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Delivery(traceOf(t, deliveryTrace(t, tc.lines...)), 99)
			if r.Verdict != tc.want || !strings.Contains(r.Explanation, tc.explain) {
				t.Fatalf("got %s: %s\nwant %s containing %q", r.Verdict, r.Explanation, tc.want, tc.explain)
			}
		})
	}
}

// kafkaLines are the trace lines of a Kafka run for deliveryTrace:
// "produce P OFF EXPECT" (EXPECT - for a record built to fail), "enqueue
// CLIENT SEQ P OFF" (a consumer's kv.request), "acked CLIENT SEQ POS" (its
// kv.response ok), "commit P FROM NEXT" and "refuse" (a commit refused).
func kafkaLines(t *testing.T, lines ...string) []string {
	t.Helper()
	var out []string
	for i, l := range lines {
		tm := 1 + i // before the final reads' times (deliveryTrace's)
		f := strings.Fields(l)
		switch f[0] {
		case "produce":
			out = append(out, fmt.Sprintf(`{"time":%d,"node":"ext/in/crm","kind":"kafka.produce","connector":"crm","partition":%s,"offset":%s,"id":"crm/t/%s/%s","expect":%q}`,
				tm, f[1], f[2], f[1], f[2], strings.Trim(f[3], "-")))
		case "enqueue":
			out = append(out, fmt.Sprintf(`{"time":%d,"node":"n1","kind":"kv.request","client":%q,"seq":%s,"op":"enqueue","id":"crm/t/%s/%s"}`,
				tm, f[1], f[2], f[3], f[4]))
		case "acked":
			out = append(out, fmt.Sprintf(`{"time":%d,"node":"n1","kind":"kv.response","client":%q,"seq":%s,"status":"ok","replicaset":"rs1","position":%s}`,
				tm, f[1], f[2], f[3]))
		case "commit":
			out = append(out, fmt.Sprintf(`{"time":%d,"node":"ext/in/crm","kind":"kafka.commit","connector":"crm","member":"n1","partition":%s,"from":%s,"next":%s}`,
				tm, f[1], f[2], f[3]))
		case "refuse":
			out = append(out, fmt.Sprintf(`{"time":%d,"node":"ext/in/crm","kind":"kafka.refuse","connector":"crm","member":"n2","what":"commit"}`, tm))
		default:
			out = append(out, l)
		}
	}
	return out
}

// TestDeliveryKafka: records produced to a broker are messages
// acknowledged by the broker, and the commits are judged against the
// consumers' acknowledged enqueues.
func TestDeliveryKafka(t *testing.T) {
	queue := func(entries ...string) string {
		var es []string
		for _, e := range entries {
			es = append(es, fmt.Sprintf(`{"position":1,"id":%q,"attempts":1,"reason":"no rule matched"}`, e))
		}
		return fmt.Sprintf(`queue {"replicaset":"rs1","depth":0,"repairs":%d,"settled":3,"entries":[%s]}`, len(entries), strings.Join(es, ","))
	}
	good := []string{"produce 0 0 Customer/a", "produce 0 1 -", "produce 1 0 Customer/b",
		"enqueue c1 1 0 0", "acked c1 1 1", "enqueue c1 2 0 1", "acked c1 2 2",
		"enqueue n2/crm.1/0 1 1 0", "enqueue n2/crm.1/1 1 1 0", "acked n2/crm.1/1 1 3",
		"refuse", "commit 0 0 2", "commit 1 0 1"}
	for _, tc := range []struct {
		name    string
		lines   []string
		final   []string
		want    Verdict
		explain string
	}{
		{"delivered", good, []string{"stored Customer/a", "stored Customer/b", queue("crm/t/0/1")}, Valid,
			"3 messages sent, 3 acknowledged: 2 stored once, 1 in the repair queue with a reason; 0 refused (0 of them busy at least once), " +
				"0 of unknown outcome that took effect once, the rest none; 3 of them records produced to Kafka, every partition committed to its end " +
				"in 2 partition commits (1 commit requests refused), 0 records enqueued by more than one consumer"},
		{"two consumers", append(slices.Clone(good), "enqueue n3/crm.2/0 1 1 0"), []string{"stored Customer/a", "stored Customer/b", queue("crm/t/0/1")}, Valid,
			"1 records enqueued by more than one consumer"},
		{"lost", good, []string{"absent Customer/a", "stored Customer/b", queue("crm/t/0/1")}, Invalid,
			"record crm/t/0/0 (partition 0, offset 0) was produced and is neither stored nor in the repair queue: lost"},
		{"twice", good, []string{"stored Customer/a 1", "stored Customer/b", queue("crm/t/0/1")}, Invalid, "took effect 2 times"},
		{"bad not repaired", good, []string{"stored Customer/a", "stored Customer/b", queue()}, Invalid, "record crm/t/0/1"},
		{"committed before acknowledged", []string{"produce 0 0 Customer/a", "produce 0 1 Customer/c", "enqueue c1 1 0 0", "acked c1 1 1",
			"enqueue c1 2 0 1", "commit 0 0 2", "acked c1 2 2"}, []string{"stored Customer/a", "stored Customer/c", queue()}, Invalid,
			"the broker of crm committed partition 0 up to offset 2 before the queue acknowledged record crm/t/0/1"},
		{"an answer to an old sequence number acknowledges nothing", []string{"produce 0 0 Customer/a", "enqueue c1 1 0 0", "acked c1 1 0",
			"commit 0 0 1"}, []string{"stored Customer/a", queue()}, Invalid, "before the queue acknowledged record crm/t/0/0"},
		{"a late commit moved the offset back", append(slices.Clone(good), "commit 0 2 1"),
			[]string{"stored Customer/a", "stored Customer/b", queue("crm/t/0/1")}, Invalid, "partition 0 of crm's topic is committed up to offset 1 of the 2"},
		{"committed beyond the end", []string{"produce 0 0 Customer/a", "enqueue c1 1 0 0", "acked c1 1 1", "commit 0 0 2"},
			[]string{"stored Customer/a", queue()}, Invalid, "offset 1 was never produced"},
		{"behind", []string{"produce 0 0 Customer/a", "produce 0 1 Customer/c", "enqueue c1 1 0 0", "acked c1 1 1",
			"enqueue c1 2 0 1", "acked c1 2 2", "commit 0 0 1"}, []string{"stored Customer/a", "stored Customer/c", queue()}, Invalid,
			"after the recovery, partition 0 of crm's topic is committed up to offset 1 of the 2 records produced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Delivery(traceOf(t, deliveryTrace(t, append(kafkaLines(t, tc.lines...), tc.final...)...)), 99)
			if r.Verdict != tc.want || !strings.Contains(r.Explanation, tc.explain) {
				t.Fatalf("got %s: %s\nwant %s containing %q", r.Verdict, r.Explanation, tc.want, tc.explain)
			}
		})
	}
}
