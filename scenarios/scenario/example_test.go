package scenario_test

import (
	"errors"
	"fmt"

	"github.com/shoaldb/shoal/scenarios/scenario"
)

func ExampleParse() {
	s, err := scenario.Parse("kill.yaml", []byte(`
name: kill-one
cluster: {instances: 5}
nemesis:
  - every: 8s
    start: 2s
    fault: kill
    for: 3s
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	st := s.Nemesis[0]
	fmt.Println(s.Name, s.Cluster.ReplicationFactor, s.Duration)
	fmt.Println(st.Fault.Kind, st.Fault.Target, st.Occurrences(s.Duration))
	fmt.Println(s.Checks)
	// Output:
	// kill-one 5 30s
	// kill random [2s 10s 18s 26s]
	// [linearizable raft-safety durability convergence partitions progress faults]
}

func ExampleParse_errors() {
	_, err := scenario.Parse("leader.yaml", []byte(`name: leader
cluster:
  instances: 5
  replicaton_factor: 5
nemesis:
  - at: 5s
    fault: partiton
    shape: isolate-leader
  - at: 40s
    fault: kill
    shape: halves
`))
	fmt.Println(err)
	var first *scenario.Error
	if errors.As(err, &first) {
		fmt.Println("first at line", first.Line)
	}
	// Output:
	// leader.yaml:4: unknown field "replicaton_factor" in cluster (did you mean replication_factor?)
	// leader.yaml:7: unknown fault "partiton" (did you mean partition?)
	// leader.yaml:9: `at` 40s is not before the end of the run (`duration` 30s)
	// leader.yaml:11: `shape` does not apply to fault kill
	// first at line 4
}

func ExampleMarshal() {
	s, err := scenario.Parse("pause.yaml", []byte("name: pause\nnemesis: [{at: 1s, fault: pause, target: leader, for: 2s}]\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s", scenario.Marshal(s))
	// Output:
	// # A shoal scenario with every default filled in.
	// # Format: scenarios/README.md; JSON Schema: scenarios/scenario/scenario.schema.json.
	// name: pause
	// cluster:
	//   instances: 3
	//   replication_factor: 3
	// network:
	//   latency: {dist: constant, min: 1ms}
	//   loss: 0
	// workload:
	//   kind: kv
	//   clients: 4
	//   keys: 8
	//   rate: 100
	//   mix: {read: 0.5, write: 0.4, cas: 0.1, delete: 0}
	//   target: random
	//   timeout: 1s
	//   retries: 3
	// duration: 30s
	// nemesis:
	//   - at: 1s
	//     fault: pause
	//     target: leader
	//     group: data
	//     for: 2s
	// final:
	//   heal: true
	//   recover: 10s
	// checks: [linearizable, raft-safety, durability, convergence, partitions, progress, faults]
	// expect: valid
}
