// Command getting-started is the Go twin of the Python SDK's "Connect and
// run" example: create a session, take a second turn, archive it.
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/mobd-dev/mobd/rpc"
)

func main() {
	ctx := context.Background()
	client, err := rpc.Connect(ctx, rpc.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	session, err := client.CreateSession(ctx, rpc.Text("What is the capital of France?"), rpc.SessionOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(session.Text())

	// Multi-turn
	result, err := session.Turn(ctx, rpc.Text("And of Germany?"), rpc.TurnOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(result.Text)

	if err := session.Archive(ctx); err != nil {
		log.Fatal(err)
	}
}
