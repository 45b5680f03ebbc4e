// Command customservice is shoal with two services of its own over the
// example model (scenarios/examples/model.yaml): customerSummary, a
// query that answers a customer's order count and total, and
// cancelOrder, a mutation that cancels an open or paid order on
// condition of its revision. It registers them in init and hands the
// command line to cli.Main, so it has every command shoal has, and
// serves both as GraphQL fields and at /v1/services/{name}. README.md
// says how to build yours.
package main

import (
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/shoaldb/shoal/cmd/shoal/cli"
	"github.com/shoaldb/shoal/core/graphql"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/core/service"
)

func init() {
	service.Register(service.Service{
		Name:    "customerSummary",
		Doc:     "A customer's name, number of orders and their total.",
		Args:    []service.Arg{{Name: "id", Type: "String!", Doc: "the customer's id"}},
		Returns: "JSON",
		Reads:   []string{"Customer", "Order"},
		Func:    customerSummary,
	})
	service.Register(service.Service{
		Name: "cancelOrder",
		Doc:  "Cancels an open or paid order; with ifRevision, only while the order has that revision.",
		Args: []service.Arg{
			{Name: "customer_id", Type: "String!"},
			{Name: "id", Type: "String!"},
			{Name: "ifRevision", Type: "Int64"},
		},
		Returns:  "Order!",
		Mutation: true,
		Reads:    []string{"Order"},
		Writes:   []string{"Order"},
		Func:     cancelOrder,
	})
}

// customerSummary answers {"customer", "name", "orders", "total"} for
// the customer args["id"]; 404 when there is none.
func customerSummary(c *service.Context, args map[string]any) (any, error) {
	id := args["id"].(string)
	cust, found, err := c.Get("Customer", map[string]any{"id": id})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, service.Errorf(http.StatusNotFound, "customer %q does not exist", id)
	}
	filters, err := c.Filters("Order", url.Values{"customer_id": {id}}.Encode())
	if err != nil {
		return nil, err
	}
	var totals []string
	after := ""
	for {
		page, err := c.List("Order", filters, after, 100)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Items {
			totals = append(totals, o.Object["total"].(string))
		}
		if !page.More {
			break
		}
		after = page.Last
	}
	total, err := sum(totals)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprint(cust.Object["first_name"], " ", cust.Object["last_name"])
	return map[string]any{"customer": id, "name": name, "orders": len(totals), "total": total}, nil
}

// sum adds decimals exactly and writes the sum as the model writes a
// decimal.
func sum(decimals []string) (string, error) {
	total, scale := new(big.Rat), 0
	for _, d := range decimals {
		r, ok := new(big.Rat).SetString(d)
		if !ok {
			return "", fmt.Errorf("%q is not a decimal", d)
		}
		total.Add(total, r)
		if _, frac, ok := strings.Cut(d, "."); ok {
			scale = max(scale, len(frac))
		}
	}
	return model.CanonicalDecimal(total.FloatString(scale))
}

// cancelOrder sets an order's status to cancelled, on condition that it
// still has the revision read (or the one given): a write between the
// read and the write makes the call fail with 412, not cancel an order
// that changed meanwhile.
func cancelOrder(c *service.Context, args map[string]any) (any, error) {
	key := map[string]any{"customer_id": args["customer_id"], "id": args["id"]}
	order, found, err := c.Get("Order", key)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, service.Errorf(http.StatusNotFound, "order %s of customer %s does not exist", args["id"], args["customer_id"])
	}
	if want, ok := args["ifRevision"].(int64); ok && order.Revision != want {
		return nil, service.Errorf(http.StatusPreconditionFailed, "order %s has revision %d, not %d", args["id"], order.Revision, want)
	}
	if s := order.Object["status"]; s != "open" && s != "paid" {
		return nil, service.Errorf(http.StatusUnprocessableEntity, "order %s is %s: only an open or paid order can be cancelled", args["id"], s)
	}
	order.Object["status"] = "cancelled"
	return c.Put("Order", order.Object, graphql.Condition{IfRevision: order.Revision})
}

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
