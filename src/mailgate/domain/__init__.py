"""The pure core: entities, rules, state machines and ports. Standard library only, no I/O."""
