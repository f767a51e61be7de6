"""What providers report back after a send (bounces, complaints, opens, unsubscribes), normalised and recorded."""
