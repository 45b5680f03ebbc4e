package checker

import (
	"strings"
	"testing"
)

// topoStart is three bootstrapped instances, group 0 and rs1 with all
// three as voters, a one-second election timeout.
const topoStart = `{"time":0,"node":"n1","kind":"node.start","inc":1}
{"time":0,"node":"n1","kind":"node.bootstrap","instances":3,"replicasets":1,"replicaset":"rs1","voters":"n1,n2,n3","election_timeout":1000000000}
{"time":0,"node":"n1","kind":"raft.conf","group":"config","index":1,"voters":"n1,n2,n3","learners":""}
{"time":0,"node":"n1","kind":"raft.conf","group":"rs1","index":1,"voters":"n1,n2,n3","learners":""}
{"time":0,"node":"n2","kind":"node.start","inc":1}
{"time":0,"node":"n2","kind":"node.bootstrap","instances":3,"replicasets":1,"replicaset":"rs1","voters":"n1,n2,n3","election_timeout":1000000000}
{"time":0,"node":"n3","kind":"node.start","inc":1}
{"time":0,"node":"n3","kind":"node.bootstrap","instances":3,"replicasets":1,"replicaset":"rs1","voters":"n1,n2,n3","election_timeout":1000000000}
`

// joinN4 is n4's join through n1 at 1s, answered ok, n4 added to group
// 0 as a learner and founding rs2.
const joinN4 = `{"time":1000000000,"node":"runner","kind":"topology.action","id":"join-n4","action":"join","instance":"n4","via":"n1","up":true,"timeout":10000000000,"domain":""}
{"time":1000000000,"node":"n1","kind":"raft.propose","group":"config","id":"join-n4","size":40,"timeout":10000000000}
{"time":1005000000,"node":"n1","kind":"prop.result","group":"config","id":"join-n4","outcome":"ok","index":3}
{"time":1100000000,"node":"n4","kind":"node.start","inc":1}
{"time":1200000000,"node":"n1","kind":"raft.conf","group":"config","index":4,"voters":"n1,n2,n3","learners":"n4"}
{"time":1200000000,"node":"n4","kind":"raft.conf","group":"rs2","index":1,"voters":"n4","learners":""}
`

// finalOf is a settled topology.final record at 30s.
func finalOf(instances, voters, sets string) string {
	return `{"time":30000000000,"node":"runner","kind":"topology.final","leader":"n1","instances":"` + instances + `","voters":"` + voters + `","replicasets":"` + sets + `","settled":true}
`
}

// expelN3 is n3, killed, expelled: the operator's expel via n1, the
// governor's steps (n3 loses its vote, is marked expelled at index 9),
// and group 0 and rs1 without it.
const expelN3 = `{"time":2000000000,"node":"n3","kind":"node.kill","inc":1}
{"time":5000000000,"node":"n1","kind":"governor.step","id":"gov-n1-2-1","op":"offline","instance":"n3","state":"","voters":"","reason":"not heard from for 3s"}
{"time":5002000000,"node":"n1","kind":"prop.result","group":"config","id":"gov-n1-2-1","outcome":"ok","index":6}
{"time":6000000000,"node":"runner","kind":"topology.action","id":"expel-n3","action":"expel","instance":"n3","via":"n1","up":true,"timeout":10000000000,"force":false}
{"time":6000000000,"node":"n1","kind":"raft.propose","group":"config","id":"expel-n3","size":40,"timeout":10000000000}
{"time":6002000000,"node":"n1","kind":"prop.result","group":"config","id":"expel-n3","outcome":"ok","index":7}
{"time":6100000000,"node":"n1","kind":"governor.step","id":"gov-n1-2-2","op":"voters","instance":"","state":"","voters":"n1,n2","reason":""}
{"time":6102000000,"node":"n1","kind":"prop.result","group":"config","id":"gov-n1-2-2","outcome":"ok","index":8}
{"time":6200000000,"node":"n1","kind":"governor.step","id":"gov-n1-2-3","op":"state","instance":"n3","state":"expelled","voters":"","reason":""}
{"time":6202000000,"node":"n1","kind":"prop.result","group":"config","id":"gov-n1-2-3","outcome":"ok","index":9}
{"time":6300000000,"node":"n1","kind":"raft.conf","group":"config","index":10,"voters":"n1,n2","learners":""}
{"time":6400000000,"node":"n1","kind":"raft.conf","group":"rs1","index":500,"voters":"n1,n2","learners":""}
`

func TestTopology(t *testing.T) {
	for _, tc := range []struct {
		name, trace string
		want        Verdict
		explain     string
		first       string // where First points, "node@time"; "" for nowhere
	}{
		{"nothing", "", NA, "no join, expel or governor step", ""},
		{"a join", joinN4 + finalOf("n1:online:online:rs1,n2:online:online:rs1,n3:online:online:rs1,n4:online:online:rs2", "n1,n2,n3", "rs1=n1+n2+n3,rs2=n4"),
			Valid, "1 of 1 joins and expels ended ok; group 0 had at most 3 voters; at the end group 0's voters were [n1,n2,n3], 3 of the 4 instances not expelled", ""},
		{"a refused join", `{"time":1000000000,"node":"runner","kind":"topology.action","id":"join-n2","action":"join","instance":"n2","via":"n1","up":true,"timeout":10000000000,"domain":""}
{"time":1005000000,"node":"n1","kind":"prop.result","group":"config","id":"join-n2","outcome":"fail","index":3,"error":"join: n2 is already an instance of the cluster"}
`, Unknown, "join-n2, made at 1s via n1, was refused (join: n2 is already an instance of the cluster)", ""},
		{"a join cut off from the voters times out", `{"time":500000000,"node":"world","kind":"net.partition","components":"n1|n2,n3"}
{"time":1000000000,"node":"runner","kind":"topology.action","id":"join-n4","action":"join","instance":"n4","via":"n1","up":true,"timeout":10000000000,"domain":""}
{"time":11000000000,"node":"n1","kind":"prop.result","group":"config","id":"join-n4","outcome":"timeout"}
`, Valid, "0 of 1 joins and expels ended ok; 1 timed out, explained: join-n4 (n1 was cut off from a majority of group 0's voters at 1s, hearing [n1])", ""},
		{"a join through a dead instance", `{"time":1000000000,"node":"runner","kind":"topology.action","id":"join-n4","action":"join","instance":"n4","via":"n3","up":false,"timeout":10000000000,"domain":""}
`, Valid, "join-n4 (via n3, down when it was made)", ""},
		{"a join that should have committed", `{"time":1000000000,"node":"runner","kind":"topology.action","id":"join-n4","action":"join","instance":"n4","via":"n1","up":true,"timeout":10000000000,"domain":""}
{"time":11000000000,"node":"n1","kind":"prop.result","group":"config","id":"join-n4","outcome":"timeout"}
{"time":12000000000,"node":"world","kind":"net.heal"}
`, Invalid, "join-n4, made at 1s via n1, did not commit (timeout by 11s) though n1 stayed connected to group 0's voters [n1,n2,n3] for five election timeouts (5s)", "runner@1s"},
		{"an expel", expelN3 + finalOf("n1:online:online:rs1,n2:online:online:rs1,n3:expelled:expelled:rs1", "n1,n2", "rs1=n1+n2"),
			Valid, "expelled [n3]: none a member of a group again once removed, none answered a client after it knew; at the end group 0's voters were [n1,n2], 2 of the 2 instances not expelled", ""},
		{"an expelled instance comes back into group 0", expelN3 + `{"time":7000000000,"node":"n2","kind":"raft.conf","group":"config","index":12,"voters":"n1,n2","learners":"n3"}
`, Invalid, "n3, expelled at 6.202s (gov-n1-2-3, index 9 of group 0), was removed from config at index 10, and is a member again at index 12", "n2@7s"},
		{"an expelled instance comes back into its replicaset", expelN3 + `{"time":7000000000,"node":"n1","kind":"raft.conf","group":"rs1","index":530,"voters":"n1,n2,n3","learners":""}
`, Invalid, "was removed from rs1 at index 500, and is a member again at index 530", "n1@7s"},
		{"an expelled instance that knows answers a client", expelN3 + `{"time":8000000000,"node":"n3","kind":"node.start","inc":2}
{"time":8000000000,"node":"n3","kind":"raft.state","group":"config","term":2,"role":"follower","leader":"n1","vote":"","commit":9,"applied":9}
{"time":8100000000,"node":"n3","kind":"kv.request","client":"c1","seq":4,"op":"get","key":"k1","value":""}
{"time":8100000000,"node":"n3","kind":"kv.response","client":"c1","seq":4,"status":"ok","value":"x"}
`, Invalid, "n3, expelled (gov-n1-2-3 applied at index 9 of group 0, which n3 had applied by 8s), answered c1's request 4 ok at 8.1s", "n3@8.1s"},
		{"an expelled instance redirects", expelN3 + `{"time":8000000000,"node":"n3","kind":"raft.state","group":"config","term":2,"role":"follower","leader":"n1","vote":"","commit":9,"applied":9}
{"time":8100000000,"node":"n3","kind":"kv.request","client":"c1","seq":4,"op":"get","key":"k1","value":""}
{"time":8100000000,"node":"n3","kind":"kv.response","client":"c1","seq":4,"status":"redirect","value":""}
`, Valid, "none answered a client after it knew", ""},
		{"an expelled instance that does not know yet", expelN3 + `{"time":8000000000,"node":"n3","kind":"raft.state","group":"config","term":2,"role":"follower","leader":"n1","vote":"","commit":8,"applied":8}
{"time":8100000000,"node":"n3","kind":"kv.request","client":"c1","seq":4,"op":"get","key":"k1","value":""}
{"time":8100000000,"node":"n3","kind":"kv.response","client":"c1","seq":4,"status":"ok","value":"x"}
`, Valid, "none answered a client after it knew", ""},
		{"six voters", `{"time":3000000000,"node":"n1","kind":"raft.conf","group":"config","index":9,"voters":"n1,n2,n3,n4,n5,n6","learners":""}
{"time":3000000000,"node":"n1","kind":"governor.step","id":"gov-n1-2-1","op":"voters","instance":"","state":"","voters":"n1,n2,n3,n4","reason":""}
`, Invalid, "group 0 had 6 voters [n1,n2,n3,n4,n5,n6] at index 9 (n1 applied it at 3s), more than 5", "n1@3s"},
		{"the governor wants six voters", `{"time":3000000000,"node":"n1","kind":"governor.step","id":"gov-n1-2-1","op":"voters","instance":"","state":"","voters":"n1,n2,n3,n4,n5,n6","reason":""}
`, Invalid, "the governor proposed 6 voters [n1,n2,n3,n4,n5,n6] for group 0 at 3s (gov-n1-2-1), more than 5", "n1@3s"},
		{"too few voters at the end", joinN4 + `{"time":9000000000,"node":"n1","kind":"raft.conf","group":"config","index":8,"voters":"n1,n2","learners":"n3,n4"}
` + finalOf("n1:online:online:rs1,n2:online:online:rs1,n3:online:online:rs1,n4:online:online:rs2", "n1,n2", "rs1=n1+n2+n3,rs2=n4"),
			Invalid, "group 0 ends with 2 voters [n1,n2], not 3: 4 instances are not expelled [n1,n2,n3,n4]", "runner@30s"},
		{"an offline voter while a learner is online", joinN4 + finalOf("n1:online:online:rs1,n2:online:online:rs1,n3:offline:offline:rs1,n4:online:online:rs2", "n1,n2,n3", "rs1=n1+n2+n3,rs2=n4"),
			Invalid, "group 0's voter n3 ends offline (target offline) while n4, online, does not vote (voters [n1,n2,n3])", "runner@30s"},
		{"an offline voter with no learner to replace it", finalOf("n1:online:online:rs1,n2:online:online:rs1,n3:offline:offline:rs1", "n1,n2,n3", "rs1=n1+n2+n3"),
			Valid, "at the end group 0's voters were [n1,n2,n3]", ""},
		{"group 0's Raft membership lags the configuration", joinN4 + finalOf("n1:online:online:rs1,n2:online:online:rs1,n3:online:online:rs1,n4:online:online:rs2", "n1,n2,n4", "rs1=n1+n2+n3,rs2=n4"),
			Invalid, "config's last Raft membership (index 4, applied by n1 at 1.2s) is voters [n1,n2,n3], learners [n4]; the configuration the run ended with says voters [n1,n2,n4], learners [n3]", "runner@30s"},
		{"a replicaset keeps a learner", joinN4 + `{"time":2000000000,"node":"n4","kind":"raft.conf","group":"rs2","index":7,"voters":"n4","learners":"n5"}
` + finalOf("n1:online:online:rs1,n2:online:online:rs1,n3:online:online:rs1,n4:online:online:rs2", "n1,n2,n3", "rs1=n1+n2+n3,rs2=n4"),
			Invalid, "rs2's last Raft membership (index 7, applied by n4 at 2s) is voters [n4], learners [n5]", "runner@30s"},
		{"a member that is down stays a learner", joinN4 + `{"time":2000000000,"node":"n1","kind":"raft.conf","group":"rs1","index":90,"voters":"n1,n2","learners":"n3"}
` + finalOf("n1:online:online:rs1,n2:online:online:rs1,n3:offline:offline:rs1,n4:online:online:rs2", "n1,n2,n4", "rs1=n1+n2+n3,rs2=n4"),
			Invalid, "config's last Raft membership (index 4, applied by n1 at 1.2s) is voters [n1,n2,n3], learners [n4]", "runner@30s"},
		{"a member that is down stays a learner of its replicaset", joinN4 + `{"time":2000000000,"node":"n1","kind":"raft.conf","group":"rs1","index":90,"voters":"n1,n2","learners":"n3"}
{"time":2000000000,"node":"n1","kind":"raft.conf","group":"config","index":9,"voters":"n1,n2,n4","learners":"n3"}
` + finalOf("n1:online:online:rs1,n2:online:online:rs1,n3:offline:offline:rs1,n4:online:online:rs2", "n1,n2,n4", "rs1=n1+n2+n3,rs2=n4"),
			Valid, "the Raft memberships of group 0 and of 2 replicasets matched the configuration", ""},
		{"an online member left a learner", joinN4 + `{"time":2000000000,"node":"n1","kind":"raft.conf","group":"rs1","index":90,"voters":"n1,n3","learners":"n2"}
` + finalOf("n1:online:online:rs1,n2:online:online:rs1,n3:online:online:rs1,n4:online:online:rs2", "n1,n2,n3", "rs1=n1+n2+n3,rs2=n4"),
			Invalid, "rs1's last Raft membership (index 90, applied by n1 at 2s) is voters [n1,n3], learners [n2]", "runner@30s"},
		{"a joined instance missing at the end", joinN4 + finalOf("n1:online:online:rs1,n2:online:online:rs1,n3:online:online:rs1", "n1,n2,n3", "rs1=n1+n2+n3"),
			Invalid, "join-n4 was answered ok at 1.005s, but n4 is not in the configuration the run ended with", "runner@30s"},
		{"an expel answered ok that did not happen", expelN3 + finalOf("n1:online:online:rs1,n2:online:online:rs1,n3:offline:expelled:rs1", "n1,n2", "rs1=n1+n2"),
			Invalid, "expel-n3 was answered ok at 6.002s, but n3 is offline at the end, not expelled", "runner@30s"},
		{"the configuration never settled", joinN4 + `{"time":30000000000,"node":"runner","kind":"topology.final","leader":"n1","instances":"","voters":"","replicasets":"","settled":false}
`, Unknown, "the configuration had not settled by the end of the run", ""},
		{"no final configuration", joinN4, Valid, "the final configuration was not recorded", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Topology(traceOf(t, topoStart+tc.trace))
			if got.Verdict != tc.want || !strings.Contains(got.Explanation, tc.explain) {
				t.Fatalf("got %s: %s\nwant %s: …%s…", got.Verdict, got.Explanation, tc.want, tc.explain)
			}
			if first := firstAt(t, got); first != tc.first {
				t.Fatalf("First at %q, want %q", first, tc.first)
			}
		})
	}
}

// TestJoinedInstances: the checkers that learnt the instances from
// node.bootstrap count an instance that joined a formed cluster (which
// bootstraps nothing) from its raft.conf records, and judge group 0 by
// the voters in force, not by the last ones.
func TestJoinedInstances(t *testing.T) {
	// n3 dies; n4 joins and takes its vote; then n1 is cut off. n2 and
	// n4 are a majority of group 0's voters n1, n2, n4.
	const joined = `{"time":10,"node":"n3","kind":"node.kill","inc":1}
{"time":20,"node":"n4","kind":"node.start","inc":1}
{"time":50,"node":"n1","kind":"raft.conf","group":"config","index":5,"voters":"n1,n2,n4","learners":""}
{"time":51,"node":"n4","kind":"raft.conf","group":"config","index":5,"voters":"n1,n2,n4","learners":""}
{"time":52,"node":"n4","kind":"raft.conf","group":"rs1","index":40,"voters":"n1,n2,n4","learners":""}
{"time":100,"node":"world","kind":"net.partition","components":"n1|n2,n3,n4"}
`
	q := Quorum(traceOf(t, topoStart+joined+`{"time":200,"node":"n2","kind":"raft.propose","group":"config","id":"a","size":10,"timeout":1000000000}
{"time":300,"node":"n2","kind":"prop.result","group":"config","id":"a","outcome":"ok","index":6}
`))
	if q.Verdict != Valid {
		t.Errorf("quorum: %s: %s", q.Verdict, q.Explanation)
	}
	// Before n4 took n3's vote, n2 alone had none of a majority of n1,
	// n2, n3 once cut off from n1: an ok then is a violation.
	q = Quorum(traceOf(t, topoStart+`{"time":10,"node":"n3","kind":"node.kill","inc":1}
{"time":20,"node":"world","kind":"net.partition","components":"n1|n2,n3"}
{"time":30,"node":"n2","kind":"raft.propose","group":"config","id":"a","size":10,"timeout":1000000000}
{"time":40,"node":"n2","kind":"prop.result","group":"config","id":"a","outcome":"ok","index":6}
{"time":50,"node":"n4","kind":"node.start","inc":1}
{"time":60,"node":"n1","kind":"raft.conf","group":"config","index":9,"voters":"n1,n2,n4","learners":""}
`))
	if q.Verdict != Invalid || !strings.Contains(q.Explanation, "could not reach a majority (2) of group 0's voters [n1,n2,n3]") {
		t.Errorf("quorum with the voters in force: %s: %s", q.Verdict, q.Explanation)
	}

	p := Progress(traceOf(t, topoStart+joined+`{"time":400,"node":"n4","kind":"raft.state","group":"rs1","term":3,"role":"leader","leader":"n4","vote":"n4","commit":41,"applied":41}
{"time":500,"node":"n4","kind":"kv.response","client":"c1","seq":1,"status":"ok","value":""}
`), 300)
	if p.Verdict != Valid || !strings.Contains(p.Explanation, "rs1: 1 requests served, 1 after 300ns") {
		t.Errorf("progress: %s: %s", p.Verdict, p.Explanation)
	}

	// An instance removed from a group falls behind it: the last round
	// judges the members of each group's last membership.
	c := Convergence(traceOf(t, topoStart+joined+`{"time":900,"node":"n1","kind":"sm.digest","group":"rs1","applied":140,"digest":"bb"}
{"time":900,"node":"n2","kind":"sm.digest","group":"rs1","applied":140,"digest":"bb"}
{"time":900,"node":"n3","kind":"sm.digest","group":"rs1","applied":30,"digest":"aa"}
{"time":900,"node":"n4","kind":"sm.digest","group":"rs1","applied":140,"digest":"bb"}
`))
	if c.Verdict != Valid || !strings.Contains(c.Explanation, "rs1: 3 replicas at index 140") {
		t.Errorf("convergence: %s: %s", c.Verdict, c.Explanation)
	}
}
