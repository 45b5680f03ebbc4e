package checker

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/env"
)

func TestPartitions(t *testing.T) {
	const start = `{"time":0,"node":"world","kind":"world.start","format":1,"seed":1}
{"time":0,"node":"n1","kind":"node.start","inc":1}
{"time":0,"node":"n2","kind":"node.start","inc":1}
{"time":0,"node":"n3","kind":"node.start","inc":1}
`
	for _, tc := range []struct {
		name, trace string
		want        Verdict
		explain     string
		first       string // where First points, "node@time"; "" for nowhere
	}{
		{"no cuts", `{"time":5,"node":"n2","kind":"net.recv","from":"n1","msg":"m","id":1,"sent":1}`, NA, "cut no link", ""},
		{"held cut", `{"time":10,"node":"world","kind":"net.partition","components":"n1|n2,n3"}
{"time":11,"node":"n1","kind":"net.drop","from":"n1","to":"n2","msg":"m","id":1,"why":"cut"}
{"time":12,"node":"n3","kind":"net.recv","from":"n2","msg":"m","id":2,"sent":11}
{"time":20,"node":"world","kind":"net.heal"}
{"time":25,"node":"n2","kind":"net.recv","from":"n1","msg":"m","id":3,"sent":21}`, Valid, "1 messages were dropped", ""},
		{"crossed", `{"time":10,"node":"world","kind":"net.partition","components":"n1|n2,n3"}
{"time":12,"node":"n2","kind":"net.recv","from":"n1","msg":"ping","id":7,"sent":9}`, Invalid,
			"message 7 (ping) from n1 to n2 crossed the cut n1→n2 at 12ns (cut since 10ns)", "n2@12ns"},
		{"delivered after the heal", `{"time":10,"node":"world","kind":"net.cut","from":"n1","to":"n2"}
{"time":20,"node":"world","kind":"net.uncut","from":"n1","to":"n2"}
{"time":30,"node":"n2","kind":"net.recv","from":"n1","msg":"ping","id":7,"sent":15}`, Invalid,
			"message 7 (ping) from n1 to n2 was sent at 15ns while n1→n2 was cut (since 10ns), and reached n2 at 30ns", "n2@30ns"},
		{"one-way cut lets the other way through", `{"time":10,"node":"world","kind":"net.cut","from":"n1","to":"n2"}
{"time":12,"node":"n1","kind":"net.recv","from":"n2","msg":"ping","id":7,"sent":11}`, Valid, "", ""},
		{"sent at the instant of the cut", `{"time":10,"node":"world","kind":"net.cut","from":"n1","to":"n2"}
{"time":20,"node":"world","kind":"net.uncut","from":"n1","to":"n2"}
{"time":25,"node":"n2","kind":"net.recv","from":"n1","msg":"ping","id":7,"sent":10}`, Valid, "", ""},
		{"arrived at a paused node before the cut", `{"time":5,"node":"n2","kind":"node.pause"}
{"time":6,"node":"n2","kind":"net.hold","from":"n1","msg":"ping","id":7,"sent":5}
{"time":10,"node":"world","kind":"net.cut","from":"n1","to":"n2"}
{"time":15,"node":"n2","kind":"node.resume","held":1}
{"time":15,"node":"n2","kind":"net.recv","from":"n1","msg":"ping","id":7,"sent":5}`, Valid, "", ""},
		{"held message arriving across a cut", `{"time":5,"node":"n2","kind":"node.pause"}
{"time":10,"node":"world","kind":"net.cut","from":"n1","to":"n2"}
{"time":11,"node":"n2","kind":"net.hold","from":"n1","msg":"ping","id":7,"sent":5}`, Invalid, "crossed the cut", "n2@11ns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trace, err := env.ReadTrace(strings.NewReader(start + tc.trace))
			if err != nil {
				t.Fatal(err)
			}
			got := Partitions(trace)
			if got.Verdict != tc.want || !strings.Contains(got.Explanation, tc.explain) {
				t.Fatalf("got %s: %s\nwant %s: …%s…", got.Verdict, got.Explanation, tc.want, tc.explain)
			}
			if first := firstAt(t, got); first != tc.first {
				t.Fatalf("First at %q, want %q", first, tc.first)
			}
		})
	}
}

func TestCombine(t *testing.T) {
	r := func(vs ...Verdict) []Result {
		var out []Result
		for _, v := range vs {
			out = append(out, Result{Verdict: v})
		}
		return out
	}
	for _, tc := range []struct {
		in   []Result
		want Verdict
		code int
	}{
		{nil, NA, 0},
		{r(NA, NA), NA, 0},
		{r(Valid, NA), Valid, 0},
		{r(Valid, Unknown, NA), Unknown, 2},
		{r(Unknown, Invalid, Valid), Invalid, 1},
	} {
		if got := Combine(tc.in); got != tc.want || got.ExitCode() != tc.code {
			t.Errorf("Combine(%v) = %s (exit %d), want %s (exit %d)", tc.in, got, got.ExitCode(), tc.want, tc.code)
		}
	}
}

// TestResultJSON pins a result's shape in results.json: first_bad only
// when the checker points at something, op only when that is an operation.
func TestResultJSON(t *testing.T) {
	for _, tc := range []struct {
		r    Result
		want string
	}{
		{Result{Checker: "durability", Verdict: Valid, Explanation: "fine"},
			`{"checker":"durability","verdict":"valid","explanation":"fine"}`},
		{Result{Checker: "partitions", Verdict: Invalid, Explanation: "crossed", First: &Culprit{Time: 12, Node: "n2", What: "crossed"}},
			`{"checker":"partitions","verdict":"invalid","explanation":"crossed","first_bad":{"time":12,"node":"n2","what":"crossed"}}`},
		{Result{Checker: "durability", Verdict: Invalid, Explanation: "lost", First: &Culprit{Time: 4, What: "read", Op: &OpRef{
			Process: 1, F: "read", Key: "x", Outcome: OK, Call: 4, Return: 5, Line: 6}}},
			`{"checker":"durability","verdict":"invalid","explanation":"lost","first_bad":{"time":4,"what":"read","op":{"process":1,"f":"read","key":"x","outcome":"ok","call":4,"return":5,"line":6}}}`},
	} {
		b, err := json.Marshal(tc.r)
		if err != nil || string(b) != tc.want {
			t.Errorf("got %s (%v)\nwant %s", b, err, tc.want)
		}
	}
}

func FuzzReadTrace(f *testing.F) {
	f.Add([]byte("{\"time\":0,\"node\":\"world\",\"kind\":\"world.start\",\"format\":1,\"seed\":7}\n{\"time\":10,\"node\":\"world\",\"kind\":\"net.partition\",\"components\":\"n1|n2\"}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		trace, err := env.ReadTrace(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		Partitions(trace) // must not panic on any trace it accepts
	})
}
