// Command multiturn is the Go twin of the Python SDK's math-tutor example:
// two turns in one session with a chosen model.
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

	session, err := client.CreateSession(ctx,
		rpc.Text("You are a helpful math tutor. What is 12 * 15?"),
		rpc.SessionOptions{Model: "claude-sonnet-4-5"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Turn 1: %s\n", session.Text())

	result, err := session.Turn(ctx, rpc.Text("Now divide that result by 3."), rpc.TurnOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Turn 2: %s\n", result.Text)

	if err := session.Archive(ctx); err != nil {
		log.Fatal(err)
	}
}
