// Command streaming is the Go twin of the Python SDK's streaming example:
// a first turn, then a streamed second turn matched on typed events.
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
		rpc.Text("List three interesting facts about penguins."),
		rpc.SessionOptions{Model: "claude-sonnet-4-5"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("First turn: %s\n\n", session.Text())

	events := session.Stream(ctx, rpc.Text("Now give me three more facts."), rpc.TurnOptions{})
	for ev, err := range events.All() {
		if err != nil {
			log.Fatal(err)
		}
		switch e := ev.(type) {
		case *rpc.TextDelta:
			fmt.Print(e.Delta)
		case *rpc.TurnCompleted:
			if e.Usage != nil {
				fmt.Printf("\nTokens: %d in / %d out\n", e.Usage.InputTokens, e.Usage.OutputTokens)
			}
		}
	}
	res, err := events.Result()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Run total: %d tokens\n", res.Usage.Total())
}
