// Command skills is the Go twin of the Python SDK's skills example: invoke
// a skill, named by its structured key, in a session.
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

	session, err := client.CreateSession(ctx, rpc.Text("I need help reviewing code."),
		rpc.SessionOptions{Model: "claude-sonnet-4-5"})
	if err != nil {
		log.Fatal(err)
	}

	// Use the first skill the runtime lists, as a real program would look
	// its skill up rather than hard-code a source UUID.
	skills, err := client.ListSkills(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if len(skills) == 0 {
		log.Fatal("the runtime lists no skills")
	}
	key := skills[0].Key
	fmt.Printf("Invoking skill %s\n", key)

	result, err := session.InvokeSkill(ctx, key, rpc.Text("Review this Python function for bugs."))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(result.Text)
	if err := session.Archive(ctx); err != nil {
		log.Fatal(err)
	}
}
