package scenario

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/nemesis"
	"github.com/shoaldb/shoal/simnet"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// validFiles returns the example scenarios under testdata/valid and the
// built-in library's (read from its directory, so that these tests do not
// depend on the library package building).
func validFiles(t testing.TB) map[string][]byte {
	t.Helper()
	examples, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples under testdata/valid: %v", err)
	}
	library, err := filepath.Glob("../library/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, path := range slices.Concat(examples, library) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path)] = data
	}
	return files
}

func TestParseValidRoundTrips(t *testing.T) {
	for name, data := range validFiles(t) {
		t.Run(name, func(t *testing.T) {
			s, err := Parse(name, data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			out := Marshal(s)
			s2, err := Parse("resolved-"+name, out)
			if err != nil {
				t.Fatalf("Parse(Marshal(s)): %v\n%s", err, out)
			}
			if !reflect.DeepEqual(s, s2) {
				t.Fatalf("Parse(Marshal(s)) differs from s:\n%#v\n%#v\n%s", s, s2, out)
			}
			if again := Marshal(s2); string(again) != string(out) {
				t.Fatalf("Marshal is not stable:\n%s\n---\n%s", out, again)
			}
		})
	}
}

// TestMarshalGolden pins what a resolved scenario looks like.
func TestMarshalGolden(t *testing.T) {
	for _, name := range []string{"leader-isolation", "every-fault", "objects", "ingest", "outbound", "kafka", "clusters", "topology"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "valid", name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			s, err := Parse(name+".yaml", data)
			if err != nil {
				t.Fatal(err)
			}
			got := Marshal(s)
			golden := filepath.Join("testdata", name+".resolved.yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("Marshal(%s) differs from %s:\n%s", name, golden, got)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	s, err := Parse("minimal.yaml", []byte("name: minimal\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Scenario{
		Name:    "minimal",
		Cluster: Cluster{Instances: 3, ReplicationFactor: 3},
		Network: Network{Latency: simnet.DefaultLink.Latency},
		Workloads: []Workload{{Kind: KV, Clients: 4, Keys: 8, Rate: 100,
			Mix: Mix{Read: 0.5, Write: 0.4, CAS: 0.1}, Target: "random", Timeout: time.Second, Retries: 3}},
		Duration: 30 * time.Second,
		Final:    Final{Heal: true, Recover: 10 * time.Second},
		// Every check but quorum, which has no operator actions to judge
		// without a config workload.
		Checks: []string{CheckLinearizable, CheckRaftSafety, CheckDurability, CheckConvergence, CheckPartitions, CheckProgress},
		Expect: "valid",
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got  %#v\nwant %#v", s, want)
	}

	s, err = Parse("config.yaml", []byte("name: c\nworkload: {kind: config}\nfinal: {heal: false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	wantW := []Workload{{Kind: Config, Clients: 1, Rate: 2, Target: "random", Timeout: time.Second, Retries: 3}}
	if !reflect.DeepEqual(s.Workloads, wantW) {
		t.Errorf("config workload: got %#v, want %#v", s.Workloads, wantW)
	}
	wantChecks := []string{CheckRaftSafety, CheckQuorum, CheckConvergence, CheckPartitions}
	if !reflect.DeepEqual(s.Checks, wantChecks) {
		t.Errorf("checks without a kv workload or a heal: got %v, want %v", s.Checks, wantChecks)
	}

	s, err = Parse("objects.yaml", []byte("name: o\ncluster: {model: example}\nworkload: {kind: objects}\n"))
	if err != nil {
		t.Fatal(err)
	}
	wantW = []Workload{{Kind: Objects, Clients: 4, Keys: 8, Rate: 100,
		Mix: Mix{Read: 0.5, Write: 0.5}, Target: "random", Timeout: time.Second, Retries: 3}}
	if !reflect.DeepEqual(s.Workloads, wantW) || s.Cluster.Model != "example" {
		t.Errorf("objects workload: got %#v (model %q), want %#v", s.Workloads, s.Cluster.Model, wantW)
	}
	wantChecks = []string{CheckLinearizable, CheckRaftSafety, CheckConvergence, CheckPartitions, CheckProgress, CheckModel}
	if !reflect.DeepEqual(s.Checks, wantChecks) {
		t.Errorf("checks with an objects workload: got %v, want %v", s.Checks, wantChecks)
	}

	s, err = Parse("model.yaml", []byte("name: m\ncluster: {model: example}\nworkload: {kind: model, at: 5s, model: example-next}\n"))
	if err != nil {
		t.Fatal(err)
	}
	wantW = []Workload{{Kind: Model, Clients: 1, Rate: 1, Target: "random", Timeout: 10 * time.Second,
		At: 5 * time.Second, ModelName: "example-next"}}
	if !reflect.DeepEqual(s.Workloads, wantW) {
		t.Errorf("model workload: got %#v, want %#v", s.Workloads, wantW)
	}
	wantChecks = []string{CheckRaftSafety, CheckQuorum, CheckConvergence, CheckPartitions, CheckProgress}
	if !reflect.DeepEqual(s.Checks, wantChecks) {
		t.Errorf("checks with a model workload: got %v, want %v", s.Checks, wantChecks)
	}

	s, err = Parse("ingest.yaml", []byte("name: i\ncluster: {model: example, pipeline: example}\nworkload: {kind: ingest}\n"))
	if err != nil {
		t.Fatal(err)
	}
	wantW = []Workload{{Kind: Ingest, Clients: 4, Rate: 100, Bad: 0.1, Target: "random", Timeout: time.Second, Retries: 3}}
	if !reflect.DeepEqual(s.Workloads, wantW) || s.Cluster.Pipeline != "example" || s.Cluster.Queue != nil {
		t.Errorf("ingest workload: got %#v (pipeline %q, queue %v), want %#v", s.Workloads, s.Cluster.Pipeline, s.Cluster.Queue, wantW)
	}
	wantChecks = []string{CheckRaftSafety, CheckConvergence, CheckPartitions, CheckProgress, CheckDelivery}
	if !reflect.DeepEqual(s.Checks, wantChecks) {
		t.Errorf("checks with an ingest workload: got %v, want %v", s.Checks, wantChecks)
	}

	s, err = Parse("outbound.yaml", []byte("name: i\ncluster: {model: example, pipeline: example-outbound}\nworkload: {kind: ingest}\n"))
	if err != nil {
		t.Fatal(err)
	}
	wantChecks = []string{CheckRaftSafety, CheckConvergence, CheckPartitions, CheckProgress, CheckDelivery, CheckOutbound}
	if !reflect.DeepEqual(s.Checks, wantChecks) {
		t.Errorf("checks with a pipeline that declares outbound destinations: got %v, want %v", s.Checks, wantChecks)
	}

	s, err = Parse("kafka.yaml", []byte("name: k\ncluster: {model: example, pipeline: example-kafka}\nworkload: {kind: kafka}\n"))
	if err != nil {
		t.Fatal(err)
	}
	wantW = []Workload{{Kind: Kafka, Clients: 1, Rate: 100, Bad: 0.1, Connector: "crm"}}
	if !reflect.DeepEqual(s.Workloads, wantW) {
		t.Errorf("kafka workload: got %#v, want %#v", s.Workloads, wantW)
	}
	// example-kafka declares its destinations, so outbound applies too.
	if !reflect.DeepEqual(s.Checks, wantChecks) {
		t.Errorf("checks with a kafka workload: got %v, want %v", s.Checks, wantChecks)
	}
}

// TestPipelineBrokers: only example-kafka declares a kafka connector,
// crm; it declares the destinations pipeline.yaml sends to.
func TestPipelineBrokers(t *testing.T) {
	for _, name := range []string{"example", "example-outbound", "nonesuch"} {
		if b := PipelineBrokers(name); b != nil {
			t.Errorf("%s declares brokers %v", name, b)
		}
	}
	if b, want := PipelineBrokers("example-kafka"), []string{"crm"}; !slices.Equal(b, want) {
		t.Errorf("example-kafka declares brokers %v, want %v", b, want)
	}
	if d, want := PipelineDestinations("example-kafka"), []string{"billing", "test-sink", "warehouse"}; !slices.Equal(d, want) {
		t.Errorf("example-kafka declares destinations %v, want %v", d, want)
	}
}

// TestBrokerFaults pins how broker faults map to nemesis faults: each
// mode keeps only its own field, and a rebalance has no duration.
func TestBrokerFaults(t *testing.T) {
	data, err := os.ReadFile("testdata/valid/kafka.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse("kafka.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	want := []nemesis.Step{
		{At: 20 * time.Second, For: 10 * time.Second, Fault: &nemesis.Fault{Kind: nemesis.Broker, Broker: "crm", Mode: nemesis.BrokerDown}},
		{Every: 5 * time.Second, Start: 10 * time.Second, Fault: &nemesis.Fault{Kind: nemesis.Broker, Broker: "crm", Mode: nemesis.BrokerRebalance}},
		{At: 4 * time.Second, For: 10 * time.Second, Fault: &nemesis.Fault{Kind: nemesis.Broker, Broker: "crm", Mode: nemesis.BrokerSlow, Latency: 500 * time.Millisecond}},
		{At: 32 * time.Second, Fault: &nemesis.Fault{Kind: nemesis.Broker, Broker: "crm", Mode: nemesis.BrokerSlow, Latency: 1500 * time.Millisecond}},
		{Every: 7 * time.Second, For: 2 * time.Second, Pick: []nemesis.Fault{
			{Kind: nemesis.Broker, Weight: 2, Broker: "crm", Mode: nemesis.BrokerRebalance},
			{Kind: nemesis.Broker, Weight: 1, Broker: "crm", Mode: nemesis.BrokerDown},
			{Kind: nemesis.Kill, Weight: 1, Target: nemesis.TargetLeader, Group: nemesis.GroupData},
		}},
	}
	if !reflect.DeepEqual(s.Nemesis, want) {
		t.Fatalf("got  %#v\nwant %#v", s.Nemesis, want)
	}
	wantW := []Workload{
		{Kind: Kafka, Clients: 2, Rate: 40, Bad: 0.05, Connector: "crm"},
		{Kind: Kafka, Clients: 1, Rate: 100, Bad: 0.1, Connector: "crm"},
	}
	if !reflect.DeepEqual(s.Workloads, wantW) {
		t.Fatalf("workloads %#v, want %#v", s.Workloads, wantW)
	}
}

// TestPipelineDestinations: example declares no destination, and
// example-outbound the four its chains send to.
func TestPipelineDestinations(t *testing.T) {
	if d := PipelineDestinations("example"); d != nil {
		t.Errorf("example declares %v", d)
	}
	if d, want := PipelineDestinations("example-outbound"), []string{"billing", "crm-sync", "test-sink", "warehouse"}; !slices.Equal(d, want) {
		t.Errorf("example-outbound declares %v, want %v", d, want)
	}
	if d := PipelineDestinations("nonesuch"); d != nil {
		t.Errorf("an unknown pipeline declares %v", d)
	}
}

// TestEndpointFaults pins how endpoint faults map to nemesis faults: the
// default fail rate is 1, and each mode keeps only its own field.
func TestEndpointFaults(t *testing.T) {
	data, err := os.ReadFile("testdata/valid/outbound.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse("outbound.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	want := []nemesis.Step{
		{At: 2 * time.Second, For: 5 * time.Second, Fault: &nemesis.Fault{Kind: nemesis.Endpoint, Endpoint: "crm-sync", Mode: nemesis.EndpointDown}},
		{Every: 6 * time.Second, Start: 8 * time.Second, For: 3 * time.Second,
			Fault: &nemesis.Fault{Kind: nemesis.Endpoint, Endpoint: "crm-sync", Mode: nemesis.EndpointFail, FailRate: 1}},
		{At: 20 * time.Second, For: 4 * time.Second, Fault: &nemesis.Fault{Kind: nemesis.Endpoint, Endpoint: "billing", Mode: nemesis.EndpointFail, FailRate: 0.25}},
		{At: 25 * time.Second, Fault: &nemesis.Fault{Kind: nemesis.Endpoint, Endpoint: "test-sink", Mode: nemesis.EndpointSlow, Latency: 300 * time.Millisecond}},
		{Every: 5 * time.Second, For: 2 * time.Second, Pick: []nemesis.Fault{
			{Kind: nemesis.Endpoint, Weight: 3, Endpoint: "crm-sync", Mode: nemesis.EndpointSlow, Latency: 1500 * time.Millisecond},
			{Kind: nemesis.Endpoint, Weight: 1, Endpoint: "warehouse", Mode: nemesis.EndpointDown},
			{Kind: nemesis.Kill, Weight: 1, Target: nemesis.TargetLeader, Group: nemesis.GroupData},
		}},
	}
	if !reflect.DeepEqual(s.Nemesis, want) {
		t.Fatalf("got  %#v\nwant %#v", s.Nemesis, want)
	}
}

// TestQueue pins cluster.queue's settings as the cluster reads them:
// full names, integers in decimal, durations in Go's form.
func TestQueue(t *testing.T) {
	s, err := Parse("queue.yaml", []byte(`name: q
cluster:
  model: example
  pipeline: example
  queue: {max_messages: 0x10, max_bytes: 1099511627776, window: 0, max_ids: 1, batch: 256, retry_after: 1500us}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"queue.max_messages": "16", "queue.max_bytes": "1099511627776", "queue.window": "0s",
		"queue.max_ids": "1", "queue.batch": "256", "queue.retry_after": "1.5ms",
	}
	if !reflect.DeepEqual(s.Cluster.Queue, want) {
		t.Errorf("got %v, want %v", s.Cluster.Queue, want)
	}
	s, err = Parse("queue.yaml", []byte("name: q\ncluster: {model: example, pipeline: example, queue: {}}\n"))
	if err != nil || s.Cluster.Queue != nil {
		t.Errorf("an empty queue: got %v, %v; want nil, no error", s, err)
	}
}

func TestPipelineSource(t *testing.T) {
	for _, name := range Pipelines {
		if len(PipelineSource(name)) == 0 {
			t.Errorf("PipelineSource(%q) is empty", name)
		}
	}
	if src := PipelineSource("nonesuch"); src != nil {
		t.Errorf("PipelineSource of an unknown pipeline: %q", src)
	}
}

func TestModelSource(t *testing.T) {
	for _, name := range Models {
		if len(ModelSource(name)) == 0 {
			t.Errorf("ModelSource(%q) is empty", name)
		}
	}
	if src := ModelSource("nonesuch"); src != nil {
		t.Errorf("ModelSource of an unknown model: %q", src)
	}
}

// TestIssueExample pins how the example of the format maps to nemesis
// steps.
func TestIssueExample(t *testing.T) {
	data, err := os.ReadFile("testdata/valid/leader-isolation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse("leader-isolation.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	want := &Scenario{
		Name:        "leader-isolation",
		Description: "Isolate the data leader for 10s, then heal.",
		Cluster:     Cluster{Instances: 5, ReplicationFactor: 5},
		Network:     Network{Latency: simnet.Latency{Dist: simnet.Uniform, Min: time.Millisecond, Max: 5 * time.Millisecond}},
		Workloads: []Workload{{Kind: KV, Clients: 8, Keys: 16, Rate: 200,
			Mix: Mix{Read: 0.5, Write: 0.4, CAS: 0.1}, Target: "random", Timeout: time.Second, Retries: 3}},
		Duration: 30 * time.Second,
		Nemesis: []nemesis.Step{
			{At: 5 * time.Second, For: 10 * time.Second,
				Fault: &nemesis.Fault{Kind: nemesis.Partition, Shape: nemesis.IsolateLeader, Group: nemesis.GroupData}},
			{Every: 8 * time.Second, Start: 2 * time.Second, For: 3 * time.Second,
				Fault: &nemesis.Fault{Kind: nemesis.Kill, Target: nemesis.TargetRandom}},
			{Every: 6 * time.Second, For: 2 * time.Second, Pick: []nemesis.Fault{
				{Kind: nemesis.Pause, Weight: 2, Target: nemesis.TargetLeader, Group: nemesis.GroupData},
				{Kind: nemesis.Partition, Weight: 1, Shape: nemesis.Halves},
			}},
		},
		Final:  Final{Heal: true, Recover: 10 * time.Second},
		Checks: []string{CheckLinearizable, CheckRaftSafety, CheckQuorum, CheckDurability, CheckConvergence},
		Expect: "valid",
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got  %#v\nwant %#v", s, want)
	}
}

func TestFaultFields(t *testing.T) {
	data, err := os.ReadFile("testdata/valid/every-fault.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse("every-fault.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	f := func(x float64) *float64 { return &x }
	d := func(x time.Duration) *time.Duration { return &x }
	yes, no := true, false
	_ = no
	want := []nemesis.Fault{
		{Kind: nemesis.Partition, Components: [][]env.NodeID{{"n1", "n2"}, {"n3", "n4", "n5"}}},
		{Kind: nemesis.Partition, Shape: nemesis.IsolateLeader, Group: "rs2"},
		{Kind: nemesis.Link, Loss: f(0.2), Delay: &simnet.Latency{Dist: simnet.Uniform, Min: 10 * time.Millisecond, Max: 50 * time.Millisecond},
			Duplicate: f(0.05), Reorder: &yes, From: []env.NodeID{"n1"}, To: []env.NodeID{"n2", "n3"}, OneWay: true},
		{Kind: nemesis.Link, Delay: &simnet.Latency{Dist: simnet.Constant, Min: 2 * time.Millisecond}},
		{Kind: nemesis.Kill, Target: "n3"},
		{Kind: nemesis.Restart, Target: nemesis.TargetAll},
		{Kind: nemesis.Pause, Target: nemesis.TargetFollowers, Group: nemesis.GroupConfig},
		{Kind: nemesis.Clock, Target: nemesis.TargetLeader, Group: nemesis.GroupData, Offset: d(-2 * time.Second)},
		{Kind: nemesis.Clock, Target: nemesis.TargetMajority, Drift: f(0.05)},
		{Kind: nemesis.Clock, Target: "n6", Strobe: &nemesis.Strobe{Offset: 300 * time.Millisecond, Period: 50 * time.Millisecond}},
		{Kind: nemesis.Disk, Target: nemesis.TargetMinority, Errors: []string{"write", "sync", "read"}, Probability: 0.1},
		{Kind: nemesis.Disk, Target: nemesis.TargetRandom, Errors: []string{"sync"}, Probability: 1},
	}
	if len(s.Nemesis) != len(want) {
		t.Fatalf("got %d steps, want %d", len(s.Nemesis), len(want))
	}
	for i, st := range s.Nemesis {
		if st.Fault == nil || !reflect.DeepEqual(*st.Fault, want[i]) {
			t.Errorf("step %d: got %#v, want %#v", i+1, st.Fault, want[i])
		}
	}
}

// malformed is a table of broken scenario files and the exact errors Parse
// reports for each.
var malformed = []struct {
	name, file, want string
}{
	{`cluster and clusters`, "name: x\ncluster: {instances: 3}\nclusters:\n  - {name: dc1, model: example, pipeline: example-dc1}\n  - {name: dc2, instances: 5, model: example, pipeline: example-dc2-receive}\n",
		"x.yaml:3: `cluster` and `clusters` are exclusive: name every cluster in `clusters`"},
	{`cluster without name`, "name: x\nclusters:\n  - {instances: 3}\n",
		"x.yaml:3: a cluster of `clusters` needs `name`"},
	{`cluster name twice`, "name: x\nclusters:\n  - {name: dc1}\n  - {name: dc1}\n",
		"x.yaml:4: cluster dc1 is named twice (first at line 3)"},
	{`cluster name invalid`, "name: x\nclusters:\n  - {name: DC1}\n",
		"x.yaml:3: `name` must be 1 to 63 lower-case letters, digits and dashes, starting with a letter, got \"DC1\""},
	{`misspelt cluster field`, "name: x\nclusters:\n  - {name: dc1, instance: 3}\n",
		"x.yaml:3: unknown field \"instance\" in cluster (did you mean instances?)"},
	{`replicates to a missing cluster`, "name: x\nclusters:\n  - {name: dc1, model: example, pipeline: example-dc1}\n  - {name: dc3, model: example}\n",
		"x.yaml:3: cluster dc1: pipeline example-dc1 replicates to cluster dc2 (destination to-dc2), which `clusters` lacks (did you mean dc3?)"},
	{`replicates to itself`, "name: x\nclusters:\n  - {name: dc2, model: example, pipeline: example-dc1}\n  - {name: dc1, model: example, pipeline: example-dc2}\n",
		"x.yaml:3: cluster dc2: pipeline example-dc1 replicates to cluster dc2 itself (destination to-dc2)\nx.yaml:4: cluster dc1: pipeline example-dc2 replicates to cluster dc1 itself (destination to-dc1)"},
	{`shared destination`, "name: x\nclusters:\n  - {name: dc1, model: example, pipeline: example-outbound}\n  - {name: dc2, model: example, pipeline: example-kafka}\n",
		"x.yaml:4: clusters dc1 and dc2 both declare billing in their pipelines: a destination or kafka connector is one simulated node of the world, so its name must be unique across clusters\nx.yaml:4: clusters dc1 and dc2 both declare test-sink in their pipelines: a destination or kafka connector is one simulated node of the world, so its name must be unique across clusters\nx.yaml:4: clusters dc1 and dc2 both declare warehouse in their pipelines: a destination or kafka connector is one simulated node of the world, so its name must be unique across clusters"},
	{`replication in one cluster`, "name: x\ncluster: {model: example, pipeline: example-dc1}\n",
		"x.yaml:2: pipeline example-dc1 replicates to cluster dc2 (destination to-dc2): name the clusters with `clusters`"},
	{`dc_link without clusters`, "name: x\ndc_link: {latency: {min: 10ms}}\n",
		"x.yaml:2: `dc_link` needs `clusters`: it is the links between clusters"},
	{`misspelt dc_link field`, "name: x\nclusters:\n  - {name: dc1, model: example, pipeline: example-dc1}\n  - {name: dc2, instances: 5, model: example, pipeline: example-dc2-receive}\ndc_link: {latancy: {min: 10ms}}\n",
		"x.yaml:5: unknown field \"latancy\" in dc_link (did you mean latency?)"},
	{`workload cluster unknown`, "name: x\nclusters:\n  - {name: dc1, model: example, pipeline: example-dc1}\n  - {name: dc2, instances: 5, model: example, pipeline: example-dc2-receive}\nworkload: {kind: objects, cluster: dc3}\n",
		"x.yaml:5: unknown cluster \"dc3\" (did you mean dc1?)"},
	{`workload cluster in one cluster`, "name: x\nworkload: {kind: kv, cluster: dc1}\n",
		"x.yaml:2: `cluster` names one of `clusters`, and this scenario has one cluster (`cluster`)"},
	{`workload target of its cluster`, "name: x\nclusters:\n  - {name: dc1, model: example, pipeline: example-dc1}\n  - {name: dc2, instances: 5, model: example, pipeline: example-dc2-receive}\nworkload: [{kind: kv, target: n4}, {kind: kv, cluster: dc2, target: n6}]\n",
		"x.yaml:5: unknown workload target \"n4\" (the cluster has n1..n3)\nx.yaml:5: unknown workload target \"n6\" (the cluster has n1..n5)"},
	{`fault cluster unknown`, "name: x\nclusters:\n  - {name: dc1, model: example, pipeline: example-dc1}\n  - {name: dc2, instances: 5, model: example, pipeline: example-dc2-receive}\nnemesis:\n  - {at: 1s, fault: kill, cluster: dc9, target: n1}\n",
		"x.yaml:6: unknown cluster \"dc9\" (did you mean dc1?)"},
	{`fault target of its cluster`, "name: x\nclusters:\n  - {name: dc1, model: example, pipeline: example-dc1}\n  - {name: dc2, instances: 5, model: example, pipeline: example-dc2-receive}\nnemesis:\n  - {at: 1s, fault: kill, cluster: dc2, target: n5}\n  - {at: 1s, fault: kill, target: n5}\n",
		"x.yaml:7: unknown target \"n5\" (the cluster has n1..n3)"},
	{`endpoint of its cluster`, "name: x\nclusters:\n  - {name: dc1, model: example, pipeline: example-dc1}\n  - {name: dc2, instances: 5, model: example, pipeline: example-dc2-receive}\nnemesis:\n  - {at: 1s, fault: endpoint, cluster: dc2, endpoint: to-dc2, mode: down}\n",
		"x.yaml:6: unknown endpoint \"to-dc2\" (one of dc2-billing, dc2-test-sink, dc2-warehouse)"},
	{`misspelt dclink`, "name: x\nclusters:\n  - {name: dc1, model: example, pipeline: example-dc1}\n  - {name: dc2, instances: 5, model: example, pipeline: example-dc2-receive}\nnemesis:\n  - {at: 1s, fault: dclnk, mode: cut}\n",
		"x.yaml:6: unknown fault \"dclnk\" (did you mean dclink?)"},
	{`dclink in one cluster`, "name: x\nnemesis:\n  - {at: 1s, fault: dclink, mode: cut}\n",
		"x.yaml:3: fault dclink needs `clusters`: it hits the links between clusters"},
	{`dclink mode`, "name: x\nclusters:\n  - {name: dc1, model: example, pipeline: example-dc1}\n  - {name: dc2, instances: 5, model: example, pipeline: example-dc2-receive}\nnemesis:\n  - {at: 1s, fault: dclink, mode: cutt}\n  - {at: 1s, fault: dclink}\n",
		"x.yaml:6: unknown dclink mode \"cutt\" (did you mean cut?)\nx.yaml:7: fault dclink needs `mode`"},
	{`dclink between`, "name: x\nclusters:\n  - {name: dc1, model: example, pipeline: example-dc1}\n  - {name: dc2, instances: 5, model: example, pipeline: example-dc2-receive}\nnemesis:\n  - {at: 1s, fault: dclink, mode: cut, between: [dc1]}\n  - {at: 1s, fault: dclink, mode: cut, between: [dc1, dc1]}\n  - {at: 1s, fault: dclink, mode: cut, between: [dc1, dc3]}\n",
		"x.yaml:6: `between` must name two clusters, got 1\nx.yaml:7: `between` names dc1 twice: a dclink fault is between two clusters\nx.yaml:8: unknown cluster \"dc3\" (did you mean dc1?)"},
	{`dclink fields`, "name: x\nclusters:\n  - {name: dc1, model: example, pipeline: example-dc1}\n  - {name: dc2, instances: 5, model: example, pipeline: example-dc2-receive}\nnemesis:\n  - {at: 1s, fault: dclink, mode: slow}\n  - {at: 1s, fault: dclink, mode: flap}\n  - {at: 1s, fault: dclink, mode: cut, period: 1s, delay: {min: 1ms}}\n  - {at: 1s, fault: dclink, mode: flap, period: 0s, cluster: dc1, target: n1}\n",
		"x.yaml:6: fault dclink with mode slow needs `delay`\nx.yaml:7: fault dclink with mode flap needs `period`\nx.yaml:8: `delay` applies only to mode slow\nx.yaml:8: `period` applies only to mode flap\nx.yaml:9: `cluster` does not apply to fault dclink\nx.yaml:9: `target` does not apply to fault dclink\nx.yaml:9: `period` must be positive, got 0s"},
	{`replication check without replication`, "name: x\nchecks: [replication]\n",
		"x.yaml:2: check replication needs `clusters` one of which replicates to another (a pipeline such as example-dc1)"},
	{"misspelt fault", `name: x
nemesis:
  - at: 1s
    fault: partiton
    shape: halves
`, `x.yaml:4: unknown fault "partiton" (did you mean partition?)`},
	{"misspelt field", `name: x
cluster:
  instance: 5
`,
		"x.yaml:3: unknown field \"instance\" in cluster (did you mean instances?)"},
	{"duplicate key", `name: x
duration: 10s
cluster: {instances: 3}
duration: 20s
`,
		"x.yaml:4: duplicate key \"duration\" (first at line 2)"},
	{"yaml syntax", `name: x
cluster:
  instances: 3
 replication_factor: 3
`,
		"x.yaml:3: invalid YAML: did not find expected key"},
	{"tab", `name: x
cluster:
	instances: 3
`,
		"x.yaml:3: invalid YAML: found character that cannot start any token"},
	{"empty", ``,
		"x.yaml:1: the file is empty"},
	{"only comment", `# nothing here
`,
		"x.yaml:1: the file is empty"},
	{"not a mapping", `- name: x
`,
		"x.yaml:1: a scenario must be a mapping of fields, got a list"},
	{"missing name", `description: no name
duration: 5s
`,
		"x.yaml:1: missing required field `name`"},
	{"bad name", `name: Leader_Isolation
`,
		"x.yaml:1: `name` must be lowercase letters, digits and dashes, got \"Leader_Isolation\""},
	{"instances out of range", `name: x
cluster: {instances: 16}
`,
		"x.yaml:2: `instances` must be in 1..15, got 16"},
	{"instances type", `name: x
cluster: {instances: five}
`,
		"x.yaml:2: `instances` must be an integer, got \"five\""},
	{"rf does not divide", `name: x
cluster:
  instances: 5
  replication_factor: 2
`,
		"x.yaml:4: `instances` 5 is not a multiple of `replication_factor` 2"},
	{"loss range", `name: x
network: {loss: 1.5}
`,
		"x.yaml:2: `loss` must be in [0, 1], got 1.5"},
	{"constant max", `name: x
network:
  latency: {dist: constant, min: 1ms, max: 5ms}
`,
		"x.yaml:3: `max` must be absent or equal to `min` for dist constant, got 5ms"},
	{"uniform max below min", `name: x
network:
  latency: {dist: uniform, min: 5ms, max: 1ms}
`,
		"x.yaml:3: `max` 1ms is below `min` 5ms"},
	{"unknown dist", `name: x
network:
  latency: {dist: normal, min: 1ms, max: 2ms}
`,
		"x.yaml:3: unknown dist \"normal\" (one of constant, uniform, exponential)"},
	{"duration without unit", `name: x
duration: 30
`,
		"x.yaml:2: `duration` needs a unit, such as 1.5s or 300ms, got 30"},
	{"duration too long", `name: x
duration: 25h
`,
		"x.yaml:2: `duration` must be at most 24h either way, got 25h"},
	{"unknown workload kind", `name: x
workload: {kind: kb}
`,
		"x.yaml:2: unknown workload kind \"kb\" (did you mean kv?)"},
	{"keys on config", `name: x
workload:
  kind: config
  keys: 4
`,
		"x.yaml:4: `keys` does not apply to workload kind config"},
	{"objects without model", `name: x
workload:
  - kind: objects
  - {kind: model, at: 1s, model: example}
`,
		"x.yaml:3: workload kind objects needs cluster.model" + "\n" +
			"x.yaml:4: workload kind model needs cluster.model"},
	{"unknown model", `name: x
cluster: {model: exampel}
workload: {kind: objects}
`,
		"x.yaml:2: unknown model \"exampel\" (did you mean example?)"},
	{"cas on objects", `name: x
cluster: {model: example}
workload:
  kind: objects
  mix: {read: 1, cas: 0.1}
`,
		"x.yaml:5: `cas` does not apply to workload kind objects"},
	{"fields on model", `name: x
cluster: {model: example}
workload:
  kind: model
  at: 1s
  model: example-next
  clients: 2
  keys: 4
  rate: 10
  mix: {read: 1}
  retries: 1
`,
		"x.yaml:7: `clients` does not apply to workload kind model" + "\n" +
			"x.yaml:8: `keys` does not apply to workload kind model" + "\n" +
			"x.yaml:9: `rate` does not apply to workload kind model" + "\n" +
			"x.yaml:10: `mix` does not apply to workload kind model" + "\n" +
			"x.yaml:11: `retries` does not apply to workload kind model"},
	{"model without at or model", `name: x
cluster: {model: example}
workload: {kind: model}
`,
		"x.yaml:3: workload kind model needs `at`" + "\n" +
			"x.yaml:3: workload kind model needs `model`"},
	{"model at and name", `name: x
duration: 10s
cluster: {model: example}
workload:
  - {kind: model, at: 10s, model: exampl-next}
  - {kind: model, at: -1s, model: example, target: followers}
`,
		"x.yaml:5: `at` 10s is not before the end of the run (`duration` 10s)" + "\n" +
			"x.yaml:5: unknown model \"exampl-next\" (did you mean example-next?)" + "\n" +
			"x.yaml:6: `at` must not be negative, got -1s" + "\n" +
			"x.yaml:6: unknown workload target \"followers\" (one of random, leader, n1, n2, n3)"},
	{"at and model on kv", `name: x
cluster: {model: example}
workload:
  - {kind: kv, at: 1s}
  - {kind: objects, model: example}
`,
		"x.yaml:4: `at` does not apply to workload kind kv" + "\n" +
			"x.yaml:5: `model` does not apply to workload kind objects"},
	{"workload target", `name: x
cluster: {instances: 5}
workload: {target: n7}
`,
		"x.yaml:3: unknown workload target \"n7\" (the cluster has n1..n5)"},
	{"workload target word", `name: x
workload: {target: followers}
`,
		"x.yaml:2: unknown workload target \"followers\" (one of random, leader, n1, n2, n3)"},
	{"mix sum zero", `name: x
workload:
  mix: {read: 0, write: 0}
`,
		"x.yaml:3: `mix` weights must have a positive, finite sum"},
	{"clients range", `name: x
workload: [{clients: 0}, {clients: 1001}]
`,
		"x.yaml:2: `clients` must be in 1..1000, got 0" + "\n" +
			"x.yaml:2: `clients` must be in 1..1000, got 1001"},
	{"shape on kill", `name: x
nemesis:
  - at: 1s
    fault: kill
    shape: halves
`,
		"x.yaml:5: `shape` does not apply to fault kill"},
	{"at and every", `name: x
nemesis:
  - at: 1s
    every: 2s
    fault: kill
`,
		"x.yaml:4: `at` and `every` are exclusive"},
	{"no timing", `name: x
nemesis:
  - fault: kill
    for: 1s
`,
		"x.yaml:3: a nemesis step needs `at` or `every`"},
	{"at after duration", `name: x
duration: 10s
nemesis:
  - {at: 10s, fault: kill}
`,
		"x.yaml:4: `at` 10s is not before the end of the run (`duration` 10s)"},
	{"restart for", `name: x
nemesis:
  - at: 1s
    fault: restart
    for: 2s
`,
		"x.yaml:5: `for` does not apply to fault restart"},
	{"shape and components", `name: x
nemesis:
  - at: 1s
    fault: partition
    shape: halves
    components: [[n1], [n2]]
`,
		"x.yaml:6: `shape` and `components` are exclusive"},
	{"node twice in components", `name: x
nemesis:
  - at: 1s
    fault: partition
    components:
      - [n1, n2]
      - [n2, n3]
`,
		"x.yaml:7: `components` names n2 twice (first at line 6)"},
	{"unknown shape", `name: x
nemesis:
  - {at: 1s, fault: partition, shape: halfs}
`,
		"x.yaml:3: unknown shape \"halfs\" (did you mean halves?)"},
	{"group on halves", `name: x
nemesis:
  - {at: 1s, fault: partition, shape: halves, group: data}
`,
		"x.yaml:3: `group` applies only to shape isolate-leader"},
	{"unknown group", `name: x
cluster: {instances: 6, replication_factor: 3}
nemesis:
  - {at: 1s, fault: partition, shape: isolate-leader, group: rs3}
`,
		"x.yaml:4: unknown group \"rs3\" (the cluster has rs1..rs2)"},
	{"group on random target", `name: x
nemesis:
  - {at: 1s, fault: pause, group: config}
`,
		"x.yaml:3: `group` applies only to targets leader, followers and follower"},
	{"link nothing", `name: x
nemesis:
  - at: 1s
    fault: link
    from: [n1]
`,
		"x.yaml:3: fault link needs at least one of `loss`, `delay`, `duplicate`, `reorder`"},
	{"clock two", `name: x
nemesis:
  - at: 1s
    fault: clock
    offset: 1s
    drift: 0.1
`,
		"x.yaml:6: `offset` and `drift` are exclusive"},
	{"drift range", `name: x
nemesis:
  - {at: 1s, fault: clock, drift: 1}
`,
		"x.yaml:3: `drift` must be in (-1, 1), got 1"},
	{"strobe period", `name: x
nemesis:
  - {at: 1s, fault: clock, strobe: {offset: 1s, period: 0s}}
`,
		"x.yaml:3: `period` must be positive, got 0s"},
	{"disk errors", `name: x
nemesis:
  - at: 1s
    fault: disk
    errors: [write, wrte, write]
    probability: 0
`,
		"x.yaml:5: unknown disk operation \"wrte\" (did you mean write?)" + "\n" +
			"x.yaml:5: `errors` names write twice (first at line 5)" + "\n" +
			"x.yaml:6: `probability` must be in (0, 1], got 0"},
	{"pick and fault", `name: x
nemesis:
  - every: 1s
    fault: kill
    pick: [{fault: kill}]
`,
		"x.yaml:5: `fault` and `pick` are exclusive"},
	{"pick weight", `name: x
nemesis:
  - every: 1s
    pick:
      - {fault: kill, weight: 0}
      - {fault: pause, at: 1s}
`,
		"x.yaml:5: `weight` must be in 1..1000000, got 0" + "\n" +
			"x.yaml:6: `at` belongs to the step, not to a pick alternative"},
	{"weight outside pick", `name: x
nemesis:
  - {at: 1s, fault: kill, weight: 2}
`,
		"x.yaml:3: `weight` applies only to pick alternatives"},
	{"empty pick", `name: x
nemesis:
  - {every: 1s, pick: []}
`,
		"x.yaml:3: `pick` must not be empty"},
	{"every occurrences", `name: x
duration: 1h
nemesis:
  - {every: 1ms, fault: kill}
`,
		"x.yaml:4: `every` 1ms starts 3600000 occurrences in `duration` 1h0m0s, at most 10000"},
	{"unknown check", `name: x
checks: [linearisable, quorum, quorum]
`,
		"x.yaml:2: unknown check \"linearisable\" (did you mean linearizable?)" + "\n" +
			"x.yaml:2: `checks` names quorum twice (first at line 2)"},
	{"check not applicable", `name: x
workload: {kind: config}
final: {heal: false}
checks: [linearizable, progress]
`,
		"x.yaml:4: check linearizable needs a kv or objects workload" + "\n" +
			"x.yaml:4: check progress needs final.heal"},
	{"check model without objects", `name: x
cluster: {model: example}
workload: [{kind: model, at: 1s, model: example-next}, {kind: config}]
checks: [quorum, model]
`,
		"x.yaml:4: check model needs an objects workload"},
	{"pipeline without model", `name: x
cluster: {pipeline: example}
workload: {kind: ingest}
`,
		"x.yaml:2: cluster.pipeline needs cluster.model"},
	{"unknown pipeline", `name: x
cluster:
  model: example
  pipeline: exampel
workload: {kind: ingest}
`,
		"x.yaml:4: unknown pipeline \"exampel\" (did you mean example?)"},
	{"queue without pipeline", `name: x
cluster:
  model: example
  queue: {batch: 8}
`,
		"x.yaml:4: cluster.queue needs cluster.pipeline"},
	{"unknown queue field", `name: x
cluster:
  model: example
  pipeline: example
  queue:
    max_message: 100
    batches: 4
    size: 10
`,
		"x.yaml:6: unknown field \"max_message\" in queue (did you mean max_messages?)" + "\n" +
			"x.yaml:7: unknown field \"batches\" in queue (did you mean batch?)" + "\n" +
			"x.yaml:8: unknown field \"size\" in queue (one of max_messages, max_bytes, window, max_ids, batch, retry_after)"},
	{"queue out of range", `name: x
cluster:
  model: example
  pipeline: example
  queue:
    max_messages: 0
    max_bytes: 2000000000000
    window: 721h
    max_ids: many
    batch: 257
    retry_after: 500us
`,
		"x.yaml:6: `max_messages` must be in 1..1073741824, got 0" + "\n" +
			"x.yaml:7: `max_bytes` must be in 1..1099511627776, got 2000000000000" + "\n" +
			"x.yaml:8: `window` must be in 0s..720h, got 721h" + "\n" +
			"x.yaml:9: `max_ids` must be an integer, got \"many\"" + "\n" +
			"x.yaml:10: `batch` must be in 1..256, got 257" + "\n" +
			"x.yaml:11: `retry_after` must be in 1ms..1h, got 500us"},
	{"queue durations", `name: x
cluster:
  model: example
  pipeline: example
  queue: {window: -1s, retry_after: 5}
`,
		"x.yaml:5: `window` must be in 0s..720h, got -1s" + "\n" +
			"x.yaml:5: `retry_after` needs a unit, such as 1.5s or 300ms, got 5"},
	{"ingest without pipeline", `name: x
cluster: {model: example}
workload:
  - kind: objects
  - kind: ingest
`,
		"x.yaml:5: workload kind ingest needs cluster.pipeline"},
	{"fields on ingest", `name: x
cluster: {model: example, pipeline: example}
workload:
  - {kind: ingest, keys: 4, mix: {read: 1}}
  - {kind: kv, bad: 0.1}
`,
		"x.yaml:4: `keys` does not apply to workload kind ingest" + "\n" +
			"x.yaml:4: `mix` does not apply to workload kind ingest" + "\n" +
			"x.yaml:5: `bad` does not apply to workload kind kv"},
	{"bad out of range", `name: x
cluster: {model: example, pipeline: example}
workload:
  - {kind: ingest, bad: 1.5}
  - {kind: ingest, bad: -0.1}
  - {kind: ingest, bad: half}
`,
		"x.yaml:4: `bad` must be in [0, 1], got 1.5" + "\n" +
			"x.yaml:5: `bad` must be in [0, 1], got -0.1" + "\n" +
			"x.yaml:6: `bad` must be a number, got \"half\""},
	{"check delivery without ingest", `name: x
cluster: {model: example, pipeline: example}
workload: {kind: objects}
checks: [model, delivery]
`,
		"x.yaml:4: check delivery needs an ingest or kafka workload"},
	{"unknown endpoint", `name: x
cluster: {model: example, pipeline: example-outbound}
nemesis:
  - {at: 1s, fault: endpoint, endpoint: crm-snyc, mode: down}
  - {at: 1s, fault: endpoint, endpoint: audit, mode: down}
`,
		"x.yaml:4: unknown endpoint \"crm-snyc\" (did you mean crm-sync?)" + "\n" +
			"x.yaml:5: unknown endpoint \"audit\" (one of billing, crm-sync, test-sink, warehouse)"},
	{"endpoint without destinations", `name: x
cluster: {model: example, pipeline: example}
nemesis:
  - {at: 1s, fault: endpoint, endpoint: billing, mode: down}
`,
		"x.yaml:4: unknown endpoint \"billing\": pipeline example declares no outbound destination (example-outbound does)"},
	{"endpoint without pipeline", `name: x
nemesis:
  - {at: 1s, fault: endpoint, endpoint: billing, mode: down}
`,
		"x.yaml:3: fault endpoint needs cluster.pipeline, with outbound destinations (such as example-outbound)"},
	{"endpoint fields", `name: x
cluster: {model: example, pipeline: example-outbound}
nemesis:
  - {at: 1s, fault: endpoint}
  - {at: 1s, fault: endpoint, endpoint: crm-sync, mode: up}
  - {at: 1s, fault: endpoint, endpoint: crm-sync, mode: down, fail_rate: 0.5, latency: 1s, target: leader}
  - {at: 1s, fault: endpoint, endpoint: crm-sync, mode: fail, fail_rate: 0}
  - {at: 1s, fault: endpoint, endpoint: crm-sync, mode: slow}
  - {at: 1s, fault: endpoint, endpoint: crm-sync, mode: slow, latency: 0s}
  - {at: 1s, fault: kill, endpoint: crm-sync, mode: down}
  - {at: 1s, fault: endpoint, endpoint: [crm-sync], mode: fail, latency: 1s}
`,
		"x.yaml:4: fault endpoint needs `endpoint`" + "\n" +
			"x.yaml:4: fault endpoint needs `mode`" + "\n" +
			"x.yaml:5: unknown endpoint mode \"up\" (one of down, fail, slow)" + "\n" +
			"x.yaml:6: `target` does not apply to fault endpoint" + "\n" +
			"x.yaml:6: `fail_rate` applies only to mode fail" + "\n" +
			"x.yaml:6: `latency` applies only to mode slow" + "\n" +
			"x.yaml:7: `fail_rate` must be in (0, 1], got 0" + "\n" +
			"x.yaml:8: fault endpoint with mode slow needs `latency`" + "\n" +
			"x.yaml:9: `latency` must be positive, got 0s" + "\n" +
			"x.yaml:10: `endpoint` does not apply to fault kill" + "\n" +
			"x.yaml:10: `mode` does not apply to fault kill" + "\n" +
			"x.yaml:11: `endpoint` must be a string, got a list" + "\n" +
			"x.yaml:11: `latency` applies only to mode slow"},
	{"check outbound without destinations", `name: x
cluster: {model: example, pipeline: example}
workload: {kind: ingest}
checks: [delivery, outbound]
`,
		"x.yaml:4: check outbound needs a cluster.pipeline that declares outbound destinations"},
	{"unknown broker", `name: x
cluster: {model: example, pipeline: example-kafka}
nemesis:
  - {at: 1s, fault: broker, broker: cmr, mode: down}
  - {at: 1s, fault: broker, broker: shop, mode: down}
`,
		"x.yaml:4: unknown broker \"cmr\" (did you mean crm?)" + "\n" +
			"x.yaml:5: unknown broker \"shop\" (one of crm)"},
	{"broker without kafka connectors", `name: x
cluster: {model: example, pipeline: example-outbound}
nemesis:
  - {at: 1s, fault: broker, broker: crm, mode: down}
`,
		"x.yaml:4: unknown broker \"crm\": pipeline example-outbound declares no kafka inbound connector (example-kafka does)"},
	{"broker without pipeline", `name: x
nemesis:
  - {at: 1s, fault: broker, broker: crm, mode: rebalance}
`,
		"x.yaml:3: fault broker needs cluster.pipeline, with a kafka inbound connector (such as example-kafka)"},
	{"broker fields", `name: x
cluster: {model: example, pipeline: example-kafka}
nemesis:
  - {at: 1s, fault: broker}
  - {at: 1s, fault: broker, broker: crm, mode: rebalanse}
  - {at: 1s, fault: broker, broker: crm, mode: down, latency: 1s, fail_rate: 0.5, target: leader, endpoint: billing}
  - {at: 1s, fault: broker, broker: crm, mode: slow}
  - {at: 1s, fault: broker, broker: crm, mode: slow, latency: 0s}
  - {at: 1s, fault: broker, broker: crm, mode: rebalance, for: 2s}
  - {at: 1s, fault: endpoint, endpoint: billing, broker: crm, mode: down}
  - {at: 1s, fault: broker, broker: [crm], mode: fail}
  - {every: 1s, pick: [{fault: broker, broker: crm, mode: rebalance}], broker: crm}
`,
		"x.yaml:4: fault broker needs `broker`" + "\n" +
			"x.yaml:4: fault broker needs `mode`" + "\n" +
			"x.yaml:5: unknown broker mode \"rebalanse\" (did you mean rebalance?)" + "\n" +
			"x.yaml:6: `target` does not apply to fault broker" + "\n" +
			"x.yaml:6: `endpoint` does not apply to fault broker" + "\n" +
			"x.yaml:6: `fail_rate` does not apply to fault broker" + "\n" +
			"x.yaml:6: `latency` applies only to mode slow" + "\n" +
			"x.yaml:7: fault broker with mode slow needs `latency`" + "\n" +
			"x.yaml:8: `latency` must be positive, got 0s" + "\n" +
			"x.yaml:9: `for` does not apply to fault broker with mode rebalance: a rebalance happens at once" + "\n" +
			"x.yaml:10: `broker` does not apply to fault endpoint" + "\n" +
			"x.yaml:11: `broker` must be a string, got a list" + "\n" +
			"x.yaml:11: unknown broker mode \"fail\" (one of down, slow, rebalance)" + "\n" +
			"x.yaml:12: `broker` does not apply to a pick step: it belongs in each alternative"},
	{"rebalance for", `name: x
cluster: {model: example, pipeline: example-kafka}
nemesis:
  - {at: 1s, fault: broker, broker: crm, mode: rebalance, for: 1s}
  - {at: 1s, fault: endpoint, endpoint: billing, mode: rebalance}
`,
		"x.yaml:4: `for` does not apply to fault broker with mode rebalance: a rebalance happens at once" + "\n" +
			"x.yaml:5: unknown endpoint mode \"rebalance\" (one of down, fail, slow)"},
	{"kafka without pipeline", `name: x
cluster: {model: example}
workload:
  - kind: objects
  - kind: kafka
`,
		"x.yaml:5: workload kind kafka needs cluster.pipeline, with a kafka inbound connector (such as example-kafka)"},
	{"kafka without kafka connectors", `name: x
cluster: {model: example, pipeline: example}
workload: {kind: kafka}
`,
		"x.yaml:3: workload kind kafka needs a pipeline with a kafka inbound connector (cluster.pipeline example declares none)"},
	{"fields on kafka", `name: x
cluster: {model: example, pipeline: example-kafka}
workload:
  - {kind: kafka, keys: 4, mix: {read: 1}, target: leader, timeout: 1s, retries: 1, at: 1s, model: example}
  - {kind: ingest, connector: crm}
`,
		"x.yaml:4: `at` does not apply to workload kind kafka" + "\n" +
			"x.yaml:4: `model` does not apply to workload kind kafka" + "\n" +
			"x.yaml:4: `keys` does not apply to workload kind kafka" + "\n" +
			"x.yaml:4: `mix` does not apply to workload kind kafka" + "\n" +
			"x.yaml:4: `target` does not apply to workload kind kafka" + "\n" +
			"x.yaml:4: `timeout` does not apply to workload kind kafka" + "\n" +
			"x.yaml:4: `retries` does not apply to workload kind kafka" + "\n" +
			"x.yaml:5: `connector` does not apply to workload kind ingest"},
	{"kafka values", `name: x
cluster: {model: example, pipeline: example-kafka}
workload:
  - {kind: kafka, connector: cmr}
  - {kind: kafka, clients: 65, rate: 0, bad: 2}
  - {kind: kafka, connector: 7}
`,
		"x.yaml:4: unknown kafka connector \"cmr\" (did you mean crm?)" + "\n" +
			"x.yaml:5: `clients` must be in 1..64, got 65" + "\n" +
			"x.yaml:5: `rate` must be in (0, 100000], got 0" + "\n" +
			"x.yaml:5: `bad` must be in [0, 1], got 2" + "\n" +
			"x.yaml:6: `connector` must be a string, got 7"},
	{"expect", `name: x
expect: vaild
`,
		"x.yaml:2: unknown verdict \"vaild\" (did you mean valid?)"},
	{"null value", `name: x
nemesis:
`,
		"x.yaml:2: `nemesis` has no value: give it one or leave the field out"},
	{"alias", `name: x
cluster: &c {instances: 3}
network: *c
`,
		"x.yaml:3: alias *c: aliases are not supported, write the value out"},
	{"two documents", `name: x
---
name: y
`,
		"x.yaml:2: a second YAML document: a scenario file holds one"},
	{"bool type", `name: x
final: {heal: yes}
`,
		"x.yaml:2: `heal` must be true or false, got \"yes\""},
	{"unknown top-level", `name: x
nemsis: []
workloads: []
`,
		"x.yaml:2: unknown field \"nemsis\" (did you mean nemesis?)" + "\n" +
			"x.yaml:3: unknown field \"workloads\" (did you mean workload?)"},
	{"several errors", `name: x
cluster: {instances: 0}
workload: {clients: 0, rate: -1}
nemesis:
  - {at: -1s, fault: kill, target: leadr}
`,
		"x.yaml:2: `instances` must be in 1..15, got 0" + "\n" +
			"x.yaml:3: `clients` must be in 1..1000, got 0" + "\n" +
			"x.yaml:3: `rate` must be in (0, 100000], got -1" + "\n" +
			"x.yaml:5: `at` must not be negative, got -1s" + "\n" +
			"x.yaml:5: unknown target \"leadr\" (did you mean leader?)"},
	{"unknown node in components", `name: x
nemesis:
  - at: 1s
    fault: partition
    components: [[n1, n9]]
`,
		"x.yaml:5: unknown node \"n9\" (the cluster has n1..n3)"},
	{"node name word", `name: x
nemesis:
  - {at: 1s, fault: link, loss: 1, from: [node1]}
`,
		"x.yaml:3: unknown node \"node1\" (one of n1, n2, n3)"},
	{"key not a name", `name: x
? [a, b]
: c
`,
		"x.yaml:2: a key must be a field name, got a list"},
	{"pick alternative missing fault", `name: x
nemesis:
  - every: 1s
    pick:
      - {weight: 2, target: leader}
`,
		"x.yaml:5: a pick alternative needs `fault`"},
	{"pick step with target", `name: x
nemesis:
  - every: 1s
    target: leader
    pick: [{fault: kill}]
`,
		"x.yaml:4: `target` does not apply to a pick step: it belongs in each alternative"},
	{"latency missing max", `name: x
network:
  latency: {dist: exponential, min: 1ms}
`,
		"x.yaml:3: `latency` with dist exponential needs `max`"},
	{"wrong section type", `name: x
cluster: [3]
final: true
`,
		"x.yaml:2: `cluster` must be a mapping, got a list" + "\n" +
			"x.yaml:3: `final` must be a mapping, got true"},
	{"workload scalar", `name: x
workload: kv
`,
		"x.yaml:2: `workload` must be a mapping or a list of them, got \"kv\""},
	{"from not a list", `name: x
nemesis:
  - {at: 1s, fault: link, loss: 0.5, from: n1}
`,
		"x.yaml:3: `from` must be a list, got \"n1\""},
	{"nested pick", `name: x
nemesis:
  - every: 5s
    pick:
      - pick: [{fault: kill}]
`,
		"x.yaml:5: `pick` belongs to the step, not to a pick alternative" + "\n" +
			"x.yaml:5: a pick alternative needs `fault`"},
	{"negative latency", `name: x
network:
  latency: {min: -1ms}
`,
		"x.yaml:3: `min` must not be negative, got -1ms"},
	{"case and dashes", `name: x
cluster: {instances: 3, replication-factor: 3}
nemesis:
  - {at: 1s, fault: Kill, target: Leader}
`,
		"x.yaml:2: unknown field \"replication-factor\" in cluster (did you mean replication_factor?)" + "\n" +
			"x.yaml:4: unknown fault \"Kill\" (did you mean kill?)"},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range malformed {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse("x.yaml", []byte(tc.file))
			if err == nil {
				t.Fatalf("Parse accepted it: %#v", s)
			}
			if s != nil {
				t.Errorf("Parse returned a scenario with its error")
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.File != "x.yaml" || e.Line < 1 {
				t.Errorf("errors.As(%T) to *Error: %v", err, e)
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Errorf("errors.As(%T) to ErrorList failed", err)
			}
		})
	}
}

func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: many\nnemesis:\n")
	for range 30 {
		b.WriteString("  - {at: 1s, fault: kil}\n")
	}
	_, err := Parse("many.yaml", []byte(b.String()))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("got %v", err)
	}
	if len(list) != maxErrors+1 || list[maxErrors].Msg != "too many errors" || list[maxErrors].Line != 23 {
		t.Fatalf("got %d errors, the last %v", len(list), list[len(list)-1])
	}
	for i, e := range list[:maxErrors] {
		if want := `unknown fault "kil" (did you mean kill?)`; e.Line != i+3 || e.Msg != want {
			t.Errorf("error %d: %v", i, e)
		}
	}
}

func TestHugeFile(t *testing.T) {
	data := []byte("name: big\ndescription: " + strings.Repeat("x", maxFileSize) + "\n")
	_, err := Parse("big.yaml", data)
	want := "big.yaml:1: the file is 1048600 bytes, over the limit of 1 MiB"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: steps\nnemesis:\n")
	for range maxSteps {
		b.WriteString("  - {at: 1s, fault: kill}\n")
	}
	if _, err := Parse("steps.yaml", []byte(b.String())); err != nil {
		t.Fatalf("%d steps: %v", maxSteps, err)
	}
	b.WriteString("  - {at: 1s, fault: kill}\n")
	_, err := Parse("steps.yaml", []byte(b.String()))
	if want := "steps.yaml:3: `nemesis` has 1001 entries, at most 1000"; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}
