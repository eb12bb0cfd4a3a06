"""What tests share: event factories, the engine harness, bad input, and ways to reach real
servers and the CLI. Test modules import from here, never from each other."""
