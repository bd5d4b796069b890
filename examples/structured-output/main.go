// Command structured-output is the Go twin of the Python SDK's structured
// output example: the answer comes back as JSON matching a schema.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/mobd-dev/mobd/rpc"
)

// City is the shape the schema asks for.
type City struct {
	City       string `json:"city"`
	Country    string `json:"country"`
	Population int    `json:"population"`
}

func main() {
	schema := json.RawMessage(`{
		"type": "object",
		"properties": {
			"city": {"type": "string"},
			"country": {"type": "string"},
			"population": {"type": "integer"}
		},
		"required": ["city", "country", "population"]
	}`)
	retries := uint32(3)

	ctx := context.Background()
	client, err := rpc.Connect(ctx, rpc.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	session, err := client.CreateSession(ctx, rpc.Text("Give me information about Tokyo."),
		rpc.SessionOptions{OutputSchema: schema, StructuredOutputRetries: &retries})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(session.StructuredOutput()))

	var city City
	if err := session.LastResult().DecodeStructuredOutput(&city); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("decoded: %+v\n", city)
	if err := session.Archive(ctx); err != nil {
		log.Fatal(err)
	}
}
