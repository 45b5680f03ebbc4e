package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
)

// The --api graphql and graphql-relation workloads: the example model's
// Customers, as --api data has them, through POST /v1/graphql. A write
// is putCustomer with the whole Customer; a read is a query by key:
//
//	graphql            { Customer(id: K) { id first_name last_name tier _revision } }
//	graphql-relation   { Customer(id: K) { id first_name tier orders { edges { node { id status total } } } } }
//
// For graphql-relation every customer is given benchOrders orders
// before the run, so that each read resolves a one-to-many relation
// (a listing of Orders by customer_id, fanned out to every replicaset)
// that finds something.
const (
	apiGraphQL         = "graphql"
	apiGraphQLRelation = "graphql-relation"

	benchOrders = 2
)

// What the GraphQL workloads measure, for the report.
var (
	graphqlWrite = "POST /v1/graphql putCustomer(object:): validated against the model, stored with its index entries and history, acknowledged once a majority of the replicaset has it on disk"
	graphqlRead  = map[string]string{
		apiGraphQL:         "POST /v1/graphql { Customer(id:) { 5 fields } }: the object's leader answers after a ReadIndex round (linearizable)",
		apiGraphQLRelation: fmt.Sprintf("POST /v1/graphql { Customer(id:) { 3 fields, orders { %d Orders } } }: the lookup, then the customer's Orders listed by customer_id from every replicaset, each after a ReadIndex round (linearizable)", benchOrders),
	}
	graphqlQuery = map[string]string{
		apiGraphQL:         `query ($k: String!) { Customer(id: $k) { id first_name last_name tier _revision } }`,
		apiGraphQLRelation: `query ($k: String!) { Customer(id: $k) { id first_name tier orders { edges { node { id status total } } } } }`,
	}
)

// isGraphQL reports whether api goes through /v1/graphql.
func isGraphQL(api string) bool { return api == apiGraphQL || api == apiGraphQLRelation }

// graphqlPut writes the Customer with id key through putCustomer.
func (s *shoalConn) graphqlPut(ctx context.Context, key string, value []byte) error {
	s.body = append(s.body[:0], `{"query":"mutation ($o: CustomerInput!) { putCustomer(object: $o) { _revision } }","variables":{"o":`...)
	s.body = dataBody(s.body, key, value)
	s.body = append(s.body, `}}`...)
	_, err := s.graphql(ctx, "putCustomer")
	return err
}

// graphqlGet reads the Customer with id key with the run's query.
func (s *shoalConn) graphqlGet(ctx context.Context, key string) (bool, error) {
	b, err := json.Marshal(map[string]any{"query": graphqlQuery[s.api], "variables": map[string]string{"k": key}})
	if err != nil {
		return false, err
	}
	s.body = append(s.body[:0], b...)
	return s.graphql(ctx, "Customer")
}

// graphql posts s.body and reads the answer: found is false when field
// is null; an error of the response is the operation's.
func (s *shoalConn) graphql(ctx context.Context, field string) (found bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/v1/graphql", bytes.NewReader(s.body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	s.answer = s.answer[:0]
	if _, err := s.sendTo(req, false, &s.answer); err != nil {
		return false, err
	}
	var r struct {
		Data   map[string]json.RawMessage `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(s.answer, &r); err != nil {
		return false, &opError{kind: "not a GraphQL response", msg: err.Error()}
	}
	if len(r.Errors) > 0 {
		return false, &opError{kind: "GraphQL error", msg: r.Errors[0].Message}
	}
	v, ok := r.Data[field]
	if !ok {
		return false, &opError{kind: "not a GraphQL response", msg: "no " + field + " in the data"}
	}
	return string(v) != "null", nil
}

// populateOrders gives every customer benchOrders Orders, through the
// data API, with c.clients writers.
func populateOrders(ctx context.Context, addrs []string, c benchConfig) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, c.clients)
	for w := range c.clients {
		wg.Go(func() {
			hc := newBenchHTTPClient(c.timeout, c.access)
			defer hc.CloseIdleConnections()
			base := addrs[w%len(addrs)]
			for {
				i := int(next.Add(1)) - 1
				if i >= c.keys*benchOrders || ctx.Err() != nil {
					return
				}
				customer, n := benchKey(i/benchOrders), i%benchOrders+1
				body := fmt.Sprintf(`{"customer_id":%q,"id":"o%d","placed":"2026-01-01T00:00:00Z","status":"paid","lines":[{"sku":"bench","quantity":1,"unit_price":"9.5"}],"total":"9.5","shipping_address":{"street":"Bench 1","city":"Delft","zip":"2611"}}`, customer, n)
				req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+"/v1/data/Order", bytes.NewReader([]byte(body)))
				if err != nil {
					errs[w] = err
					return
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					errs[w] = fmt.Errorf("writing Order %s,o%d: %w", customer, n, err)
					return
				}
				var b bytes.Buffer
				b.ReadFrom(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs[w] = fmt.Errorf("writing Order %s,o%d: %d %s", customer, n, resp.StatusCode, bytes.TrimSpace(b.Bytes()))
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("--api %s: giving the customers their orders: %w", apiGraphQLRelation, err)
		}
	}
	return ctx.Err()
}
