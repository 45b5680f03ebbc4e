package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/shoaldb/shoal/core/live"
)

// roleRights is the help shared by the role commands.
const roleRights = "A role's rights name data types (Customer), * for every type, kv for the key-value API,\n" +
	"ingest (write only) for handing messages in, and cluster (read only) for the cluster's status,\n" +
	"queues, model and pipeline. Changing the cluster (models, pipelines, repairs, tokens and roles)\n" +
	"takes the built-in role admin. The built-in roles: admin (everything), writer (read and write\n" +
	"every type and kv, ingest, read the cluster), reader (read every type, kv and the cluster).\n\n" +
	"Rights go down to a type's top-level fields: Customer.email grants that field of Customer\n" +
	"alone, and -Customer.salary withholds one field of a type granted whole (as Customer or *).\n" +
	"A role that reads some fields of a type reads its objects with those fields and the key only,\n" +
	"and may not filter or order by the others; one that writes some fields may patch those, while\n" +
	"inserting, replacing and deleting an object take write of the whole type. Roles name types\n" +
	"and fields the model may not have yet: only their spelling is checked."

func runRoleSet(args []string, stdout, stderr io.Writer) (int, error) {
	var read, write commaList
	return runAccess(accessCommand{name: "role set", args: "NAME",
		about: "Creates the custom role NAME, or gives it new rights (its tokens with it). Needs an admin\n" +
			"token.\n\n" + roleRights,
		flags: func(fs *flag.FlagSet) string {
			fs.Var(&read, "read", "what the role may read, as `T1,T2,...`: type names, *, Type.field, -Type.field, kv, cluster (repeatable)")
			fs.Var(&write, "write", "what the role may write, as `T1,T2,...`: type names, *, Type.field, -Type.field, kv, ingest (repeatable)")
			return " [--read T1,T2] [--write T3]"
		},
		request: func(pos []string) (string, string, []byte, error) {
			if len(read)+len(write) == 0 {
				return "", "", nil, usagef("role %s grants nothing: give it --read, --write or both", pos[0])
			}
			body, _ := json.Marshal(map[string][]string{"read": nonNil(read), "write": nonNil(write)})
			return http.MethodPut, "/v1/roles/" + url.PathEscape(pos[0]), body, nil
		},
		print: func(stdout, _ io.Writer, body []byte) error {
			var r live.RoleBody
			if err := json.Unmarshal(body, &r); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "role %s: read %s; write %s\n", r.Name, rightsList(r.Read), rightsList(r.Write))
			return nil
		},
	}, args, stdout, stderr)
}

func runRoleList(args []string, stdout, stderr io.Writer) (int, error) {
	return runAccess(accessCommand{name: "role list",
		about:   "Lists the roles: the built-in ones, then the custom ones. Needs an admin token.\n\n" + roleRights,
		request: func([]string) (string, string, []byte, error) { return http.MethodGet, "/v1/roles", nil, nil },
		print: func(stdout, _ io.Writer, body []byte) error {
			var roles []live.RoleBody
			if err := json.Unmarshal(body, &roles); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ROLE\tREAD\tWRITE\t")
			for _, r := range roles {
				note := ""
				switch {
				case r.Admin:
					note = "built in; also changes the cluster"
				case r.Builtin:
					note = "built in"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, rightsList(r.Read), rightsList(r.Write), note)
			}
			return tw.Flush()
		},
	}, args, stdout, stderr)
}

func runRoleDelete(args []string, stdout, stderr io.Writer) (int, error) {
	return runAccess(accessCommand{name: "role delete", args: "NAME",
		about: "Deletes the custom role NAME, which no token may have (revoke them first). Built-in roles\n" +
			"cannot be deleted. Exits 1 when there is no such role, or the cluster refuses.",
		request: func(pos []string) (string, string, []byte, error) {
			return http.MethodDelete, "/v1/roles/" + url.PathEscape(pos[0]), nil, nil
		},
		print: func(stdout, _ io.Writer, body []byte) error {
			var res struct{ Deleted string }
			if err := json.Unmarshal(body, &res); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "deleted role %s\n", res.Deleted)
			return nil
		},
	}, args, stdout, stderr)
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func rightsList(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, ",")
}
