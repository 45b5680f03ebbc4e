package reports

import (
	"bytes"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
)

func TestPlain(t *testing.T) {
	trace, err := env.ReadTrace(strings.NewReader(`{"time":0,"node":"world","kind":"world.start","format":1,"seed":1}
{"time":0,"node":"n1","kind":"node.start","inc":1}
{"time":0,"node":"n2","kind":"node.start","inc":1}
{"time":1000000,"node":"world","kind":"net.partition","components":"n1|n2"}
{"time":1500000,"node":"n1","kind":"net.drop","from":"n1","to":"n2","msg":"ping","id":1,"why":"cut"}
{"time":2000000,"node":"world","kind":"net.heal"}
{"time":2500000,"node":"n2","kind":"net.recv","from":"n1","msg":"ping","id":2,"sent":2000000}
{"time":2600000,"node":"n2","kind":"net.recv","from":"n1","msg":"ping","id":2,"sent":2000000}
{"time":3000000,"node":"n2","kind":"node.kill","inc":1}
{"time":4000000,"node":"n2","kind":"node.start","inc":2}
{"time":5000000,"node":"n1","kind":"node.pause"}
`))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = Plain(&out, Run{
		Scenario: "demo", Description: "a <b>bold</b> claim", Seed: 9, Command: "shoal sim toy --seed 9",
		Verdict: checker.Invalid,
		Results: []checker.Result{{Checker: "partitions", Verdict: checker.Invalid, Explanation: "message 7 crossed"}, {Checker: "other", Verdict: checker.NA}},
		Trace:   trace,
	})
	if err != nil {
		t.Fatal(err)
	}
	html := out.String()
	for _, want := range []string{
		`<span class="verdict invalid">invalid</span>`,
		`<span class="verdict na">n/a</span>`,
		"message 7 crossed",
		"a &lt;b&gt;bold&lt;/b&gt; claim",
		"shoal sim toy --seed 9",
		"partition n1 | n2", "heal the network", "kill n2", "restart n2 (incarnation 2)", "pause n1",
		// n1→n2 ping: delivered twice, one of them a duplicate, one dropped at the cut.
		`<td>n1</td><td>n2</td><td>ping</td><td class="num">2</td><td class="num">1</td><td class="num">0</td><td class="num">1</td>`,
		`<rect class="down"`, `<rect class="paused"`, `<rect class="cut"`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %s", want)
		}
	}
	if strings.Contains(html, "<b>bold</b>") {
		t.Error("the description was not escaped")
	}
}
