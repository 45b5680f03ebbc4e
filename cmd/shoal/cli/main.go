// Package cli is the command line of the shoal data platform and its
// simulation harness: every command of the shoal binary, behind one
// entry point, Main. The shoal command (cmd/shoal) is a main package that
// calls Main; a custom binary that imports its own handlers (see
// cmd/shoal/examples/customhandler) is another.
//
// Exit codes of every command that judges something: 0 valid, 1 invalid,
// 2 unknown, 3 bad input or usage, 4 internal error (a panic is recovered
// and reported as 4). A sweep over many seeds exits 1 if any seed is
// invalid, else 4 if any failed internally, else 2 if any is unknown,
// else 0.
package cli

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// Exit codes.
const (
	exitValid    = 0
	exitInvalid  = 1
	exitUnknown  = 2
	exitUsage    = 3
	exitInternal = 4
)

// usageError is bad input or usage: exit 3.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) (int, error)
	// hidden commands are for shoal's own use and not in the help.
	hidden bool
}

func commands() []command {
	return []command{
		{name: "sim list", summary: "list the built-in scenarios", run: runSimList},
		{name: "sim run", summary: "run a scenario (a file or a built-in name) on a seed; write a run directory and report", run: runSimRun},
		{name: "sim sweep", summary: "run a scenario on many seeds (--seeds 1..1000) in worker processes; write a summary and an index page", run: runSimSweep},
		{name: "sim sweep-worker", summary: "run seeds read from stdin for sim sweep", run: runSweepWorker, hidden: true},
		{name: "sim replay", summary: "re-run a run directory and confirm its trace is identical", run: runSimReplay},
		{name: "sim hunt", summary: "run random fault schedules until one fails; shrink it to a minimal scenario file that sim run reproduces", run: runSimHunt},
		{name: "live run", summary: "run a scenario against real shoal serve processes on loopback, faults through a proxy and signals; same checks and report", run: runLiveRun},
		{name: "serve", summary: "run an instance on this machine: its peers over TCP, the HTTP API for clients (--dev: a one-instance cluster to try)", run: runServe},
		{name: "check", summary: "re-check a run directory (DIR), or a history file (--history FILE)", run: runCheck},
		{name: "kv get", summary: "print a key's value from a running cluster (--addr, or SHOAL_ADDR)", run: runKVGet},
		{name: "kv put", summary: "set a key to a value", run: runKVPut},
		{name: "kv delete", summary: "delete a key", run: runKVDelete},
		{name: "kv cas", summary: "set a key to VALUE if it holds EXPECTED (or is --absent); exit 1 and print its value if not", run: runKVCAS},
		{name: "model check", summary: "validate a data model file offline (and, given two, that the second may replace the first)", run: runModelCheck},
		{name: "model apply", summary: "propose a data model file to a running cluster; wait until it is accepted or refused", run: runModelApply},
		{name: "model show", summary: "print the cluster's data model in force (--yaml for its source)", run: runModelShow},
		{name: "model cancel", summary: "abandon a pending model change (one waiting on a replicaset that has no leader)", run: runModelCancel},
		{name: "model versions", summary: "list every data model revision the cluster accepted, and one being voted on", run: runModelVersions},
		{name: "pipeline check", summary: "validate a pipeline file offline with this binary's handlers; --message runs a message through it", run: runPipelineCheck},
		{name: "pipeline apply", summary: "set a pipeline file (routing rules and handler chains) as the cluster's inbound pipeline", run: runPipelineApply},
		{name: "pipeline show", summary: "print the cluster's pipeline in force", run: runPipelineShow},
		{name: "ingest", summary: "hand one message (a JSON object) to the inbound queue as a connector would", run: runIngest},
		{name: "ingest-token", summary: "make a random token for an http connector and the token_sha256 line that lets it in (--hash: a token's digest)", run: runIngestToken},
		{name: "token create", summary: "make an API token with a role and print it, shown only then (the first token, an admin's, turns authentication on)", run: runTokenCreate},
		{name: "token list", summary: "list the API tokens: id, name, role, when made (never the tokens themselves)", run: runTokenList},
		{name: "token revoke", summary: "revoke an API token by its id or name", run: runTokenRevoke},
		{name: "role set", summary: "create a custom role, or change its rights: --read and --write list types, *, kv, ingest, cluster", run: runRoleSet},
		{name: "role list", summary: "list the roles, built-in and custom, with what each may read and write", run: runRoleList},
		{name: "role delete", summary: "delete a custom role no token has", run: runRoleDelete},
		{name: "queue", summary: "print every replicaset's queues: waiting, in repair, outbound, settled", run: runQueue},
		{name: "repair list", summary: "list a replicaset's repair queue: each failed message with its reason (--outbound: each outbound message out of attempts)", run: runRepairList},
		{name: "repair show", summary: "print one repair entry, its payload included (--outbound: an outbound one, with its destination)", run: runRepairShow},
		{name: "repair edit", summary: "replace a repair entry's payload (--outbound: an outbound one's)", run: runRepairEdit},
		{name: "repair retry", summary: "put a repair entry back in the inbound queue (--outbound: an outbound one back in its destination's queue)", run: runRepairRetry},
		{name: "repair purge", summary: "delete a repair entry (--outbound: an outbound one)", run: runRepairPurge},
		{name: "bench peers", summary: "build etcd and NATS, run a 3-node cluster of each and of shoal, and measure them side by side (tables, JSON, an HTML page)", run: runBenchPeers},
		{name: "bench", summary: "load a running cluster through the HTTP API and report ops/s and latency percentiles (--json)", run: runBench},
		{name: "handlers", summary: "list the handlers this binary can run in a pipeline: built-in and registered", run: runHandlers},
		{name: "expel", summary: "expel an instance from the cluster for good (--force: one that is online); wait for the governor to finish", run: runExpel},
		{name: "rebalance status", summary: "print how the buckets are spread over the replicasets, the move under way, and whether rebalancing is paused", run: runRebalanceStatus},
		{name: "rebalance pause", summary: "stop the governor from starting bucket moves (a move under way ends first); wait for it", run: runRebalancePause},
		{name: "rebalance resume", summary: "let the governor move buckets again", run: runRebalanceResume},
		{name: "rebalance abort", summary: "abort the bucket move under way: the bucket stays with its source", run: runRebalanceAbort},
		{name: "rebalance", summary: "rebalance status", run: runRebalance, hidden: true},
		{name: "status", summary: "print the cluster: instances, replicasets and leaders, voters, the buckets' spread, the node's Raft groups", run: runStatus},
		{name: "version", summary: "print the version and commit", run: runVersion},
	}
}

// Main executes one command line (the arguments after the program's name)
// and returns its exit code.
func Main(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if v := recover(); v != nil {
			fmt.Fprintf(stderr, "shoal: internal error: %v\n%s", v, debug.Stack())
			code = exitInternal
		}
	}()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(stdout)
		return exitValid
	}
	for _, c := range commands() {
		words := len(strings.Fields(c.name))
		if len(args) >= words && strings.Join(args[:words], " ") == c.name {
			code, err := c.run(args[words:], stdout, stderr)
			if err != nil {
				fmt.Fprintf(stderr, "shoal %s: %v\n", c.name, err)
				var ue usageError
				if errors.As(err, &ue) {
					return exitUsage
				}
				if code == exitValid {
					return exitInternal
				}
			}
			return code
		}
	}
	fmt.Fprintf(stderr, "shoal: unknown command %q\n\n", strings.Join(args, " "))
	printUsage(stderr)
	return exitUsage
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: shoal COMMAND [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		if !c.hidden {
			fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'shoal COMMAND -h' for a command's flags.")
}
