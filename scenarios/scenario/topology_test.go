package scenario

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/env"
)

// malformedTopology are broken uses of the topology's fields: joins,
// expels, cluster.governor and cluster.domains. They join malformed, so
// TestParseErrors checks each message and FuzzParse starts from them.
var malformedTopology = []struct {
	name, file, want string
}{
	{"actions with clients", "name: x\nworkload:\n  - {kind: config, clients: 2, actions: [{at: 1s, join: n4}]}\n", "x.yaml:3: `clients` does not apply to a config workload with `actions`: give periodic settings a config workload of their own"},
	{"actions on kv", "name: x\nworkload:\n  - {kind: kv, actions: [{at: 1s, join: n4}]}\n", "x.yaml:3: `actions` does not apply to workload kind kv"},
	{"actions with clusters", "name: x\nclusters:\n  - {name: dc1}\nworkload:\n  - {kind: config, actions: [{at: 1s, join: n4}]}\n", "x.yaml:5: `actions` needs a scenario of one cluster (`cluster`): joins and expels are not run with `clusters`"},
	{"actions not a list", "name: x\nworkload: {kind: config, actions: {at: 1s, join: n4}}\n", "x.yaml:2: `actions` must be a list, got a mapping"},
	{"actions empty", "name: x\nworkload: {kind: config, actions: []}\n", "x.yaml:2: `actions` must not be empty: leave it out for periodic settings"},
	{"action not a mapping", "name: x\nworkload: {kind: config, actions: [join n4]}\n", "x.yaml:2: `action` must be a mapping, got \"join n4\""},
	{"misspelt action field", "name: x\nworkload: {kind: config, actions: [{at: 1s, jion: n4}]}\n", "x.yaml:2: unknown field \"jion\" in action (did you mean join?)\nx.yaml:2: an action needs `join` or `expel`"},
	{"action without at", "name: x\nworkload: {kind: config, actions: [{join: n4}]}\n", "x.yaml:2: an action needs `at`"},
	{"action after the end", "name: x\nduration: 10s\nworkload: {kind: config, actions: [{at: 10s, join: n4}]}\n", "x.yaml:3: `at` 10s is not before the end of the run (`duration` 10s)"},
	{"join and expel", "name: x\nworkload: {kind: config, actions: [{at: 1s, join: n4, expel: n1}]}\n", "x.yaml:2: `join` and `expel` are exclusive: one action each"},
	{"neither join nor expel", "name: x\nworkload: {kind: config, actions: [{at: 1s, via: n1}]}\n", "x.yaml:2: an action needs `join` or `expel`"},
	{"join names no instance", "name: x\nworkload: {kind: config, actions: [{at: 1s, join: node4}, {at: 2s, expel: n01}]}\n", "x.yaml:2: `join` must name an instance nK, K at most 15, got \"node4\"\nx.yaml:2: `expel` must name an instance nK, K at most 15, got \"n01\""},
	{"misspelt via", "name: x\nworkload: {kind: config, actions: [{at: 1s, join: n4, via: leeder}]}\n", "x.yaml:2: unknown via \"leeder\" (did you mean leader?)"},
	{"domain on expel, force on join", "name: x\nworkload: {kind: config, actions: [{at: 1s, join: n4, force: true}, {at: 2s, expel: n1, domain: {zone: a}}]}\n", "x.yaml:2: `force` applies only to expel\nx.yaml:2: `domain` applies only to join"},
	{"bad domains", `name: x
workload:
  kind: config
  actions:
    - {at: 1s, join: n4, domain: zone-a}
    - {at: 1s, join: n5, domain: {}}
    - {at: 1s, join: n6, domain: {Zone: a}}
    - {at: 1s, join: n7, domain: {zone: "a,b"}}
    - {at: 1s, join: n8, domain: {a: "1", b: "2", c: "3", d: "4", e: "5", f: "6", g: "7", h: "8", i: "9"}}
    - {at: 1s, join: n9, domain: {zone: [a]}}
`, "x.yaml:5: `domain` must be a mapping of failure-domain keys to values, such as {zone: a}, got \"zone-a\"\nx.yaml:6: `domain` must not be empty: leave it out for no failure domain\nx.yaml:7: failure-domain key \"Zone\" must be lowercase letters, digits, `_` and `-`, starting with a letter, at most 64 characters\nx.yaml:8: failure-domain value \"a,b\" must be 1 to 64 characters, without `,`, `=` or surrounding spaces\nx.yaml:9: `domain` has 9 keys, at most 8\nx.yaml:10: `zone` must be a string, got a list"},
	{"bad force and timeout", "name: x\nworkload: {kind: config, actions: [{at: 1s, expel: n1, force: yes, timeout: 0s}]}\n", "x.yaml:2: `force` must be true or false, got \"yes\"\nx.yaml:2: `timeout` must be positive, got 0s"},
	{"join an instance", "name: x\nworkload: {kind: config, actions: [{at: 1s, join: n2}]}\n", "x.yaml:2: `join` n2: n2 is already an instance of the cluster (n1..n3): a joining instance needs a new name"},
	{"join twice", "name: x\nworkload: {kind: config, actions: [{at: 1s, join: n4}, {at: 2s, join: n4}]}\n", "x.yaml:2: n4 joins twice (first at line 2)"},
	{"too many instances", "name: x\ncluster: {instances: 14}\nworkload: {kind: config, actions: [{at: 1s, join: n15}, {at: 2s, join: n16}]}\n", "x.yaml:3: `join` must name an instance nK, K at most 15, got \"n16\""},
	{"expel twice", "name: x\nworkload: {kind: config, actions: [{at: 1s, expel: n3}, {at: 2s, expel: n3}]}\n", "x.yaml:2: n3 is expelled twice (first at line 2)"},
	{"expel no instance", "name: x\nworkload: {kind: config, actions: [{at: 1s, expel: n7}]}\n", "x.yaml:2: `expel` n7: no such instance (the cluster has n1..n3)"},
	{"expel before the join", "name: x\nworkload: {kind: config, actions: [{at: 5s, join: n4}, {at: 2s, expel: n4}]}\n", "x.yaml:2: `expel` n4: n4 joins at 5s (line 2), not before this action at 2s"},
	{"via the joining instance", "name: x\nworkload: {kind: config, actions: [{at: 1s, join: n4, via: n4}]}\n", "x.yaml:2: `via` n4 is the joining instance: a join goes via an instance of the cluster"},
	{"via no instance", "name: x\nworkload: {kind: config, actions: [{at: 1s, join: n4, via: n9}]}\n", "x.yaml:2: `via` n9: no such instance (the cluster has n1..n3)"},
	{"via one that joins later", "name: x\nworkload: {kind: config, actions: [{at: 1s, expel: n1, via: n4}, {at: 3s, join: n4}]}\n", "x.yaml:2: `via` n4: n4 joins at 3s (line 2), not before this action at 1s"},
	{"via one expelled before", "name: x\nworkload: {kind: config, actions: [{at: 1s, expel: n1}, {at: 3s, join: n4, via: n1}]}\n", "x.yaml:2: `via` n1 was expelled at 1s (line 2), before this action at 3s"},
	{"a fault names an instance before it joins", `name: x
workload:
  - {kind: config, actions: [{at: 6s, join: n4}]}
nemesis:
  - {at: 2s, fault: kill, target: n4}
  - {every: 5s, start: 4s, fault: partition, components: [[n1, n4]]}
  - {at: 3s, fault: link, loss: 0.5, from: [n4]}
  - {at: 6s, fault: kill, target: n4}
  - {at: 7s, fault: kill, target: n5}
`, "x.yaml:5: `target` n4 joins at 6s (line 3): a fault may name it from then on, and this step starts at 2s\nx.yaml:6: `components` n4 joins at 6s (line 3): a fault may name it from then on, and this step starts at 4s\nx.yaml:7: `from` n4 joins at 6s (line 3): a fault may name it from then on, and this step starts at 3s\nx.yaml:9: unknown target \"n5\" (the cluster has n1..n3, and n4 joins)"},
	{"a workload targets a joining instance", "name: x\nworkload:\n  - {kind: kv, target: n4}\n  - {kind: config, actions: [{at: 1s, join: n4}]}\n", "x.yaml:3: unknown workload target \"n4\" (the cluster has n1..n3)"},
	{"bad governor", "name: x\ncluster:\n  governor: {offline_after: 500ms}\n", "x.yaml:3: `offline_after` must be in 1s..24h, got 500ms"},
	{"misspelt governor field", "name: x\ncluster:\n  governor: {offline_afer: 5s}\n", "x.yaml:3: unknown field \"offline_afer\" in governor (did you mean offline_after?)"},
	{"governor not a mapping", "name: x\ncluster:\n  governor: 5s\n", "x.yaml:3: `governor` must be a mapping, got \"5s\""},
	{"bad cluster domains", "name: x\ncluster:\n  instances: 3\n  domains: {n1: {zone: a}, n4: {zone: b}, node2: {zone: c}, n3: }\n", "x.yaml:4: unknown instance \"n4\" in domains (the cluster has n1..n3)\nx.yaml:4: unknown instance \"node2\" in domains: name one of n1..nN\nx.yaml:4: `n3` has no value: give it a failure domain or leave it out"},
	{"cluster domains not a mapping", "name: x\ncluster:\n  domains: [{zone: a}]\n", "x.yaml:3: `domains` must be a mapping of instances to their failure domains, got a list"},
}

func init() { malformed = append(malformed, malformedTopology...) }

func TestTopologyFields(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "valid", "topology.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse("topology.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"governor.offline_after": "3s"}; !reflect.DeepEqual(s.Cluster.Governor, want) {
		t.Errorf("governor %v, want %v", s.Cluster.Governor, want)
	}
	if want := map[env.NodeID]map[string]string{"n1": {"zone": "a", "rack": "r1"}, "n2": {"zone": "b"}, "n3": {"zone": "c"}}; !reflect.DeepEqual(s.Cluster.Domains, want) {
		t.Errorf("domains %v, want %v", s.Cluster.Domains, want)
	}
	// The actions stay in the file's order; a workload of actions has no
	// clients.
	want := Workload{Kind: Config, Actions: []Action{
		{At: 12 * time.Second, Kind: ActionExpel, Instance: "n4", Via: "leader", Force: true, Timeout: 10 * time.Second},
		{At: 4 * time.Second, Kind: ActionJoin, Instance: "n4", Via: "n1", Domain: map[string]string{"zone": "a"}, Timeout: 10 * time.Second},
		{At: 6 * time.Second, Kind: ActionJoin, Instance: "n5", Via: "random", Timeout: 10 * time.Second},
		{At: 8 * time.Second, Kind: ActionExpel, Instance: "n2", Via: "n5", Timeout: 5 * time.Second},
	}}
	if got := s.Workloads[2]; !reflect.DeepEqual(got, want) {
		t.Errorf("workload 3:\n%#v\nwant\n%#v", got, want)
	}
	if got := s.Workloads[2].Actions[1].ID(); got != "join-n4" {
		t.Errorf("ID %q, want join-n4", got)
	}
	// Operator actions bring quorum; joins, expels and the governor's
	// settings bring topology.
	if !slices.Contains(s.Checks, CheckQuorum) || !slices.Contains(s.Checks, CheckTopology) {
		t.Errorf("checks %v lack quorum or topology", s.Checks)
	}
	s, err = Parse("g.yaml", []byte("name: g\ncluster: {governor: {offline_after: 2s}}\n"))
	if err != nil || !slices.Contains(s.Checks, CheckTopology) || slices.Contains(s.Checks, CheckQuorum) {
		t.Errorf("a governor setting alone: checks %v, %v", s.Checks, err)
	}
	s, err = Parse("p.yaml", []byte("name: p\nworkload: {kind: config}\n"))
	if err != nil || slices.Contains(s.Checks, CheckTopology) {
		t.Errorf("periodic settings alone: checks %v, %v", s.Checks, err)
	}
}
