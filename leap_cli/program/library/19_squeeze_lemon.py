def squeeze_lemon(start_t=0, stop_t=2.90):
    # The action performed right before this was "cut lemon". The action performed right after
    # this was "throw lemon"
    # objects = [lemon, bowl, juicer]
    # Holding nothing at start.
    # Grabbed lemon at time(s) 0.30
    # 1: take the lemon half
    grasp("lemon")
    # 2: hold it over the bowl and squeeze until no juice comes
    move("lemon", "bowl")
    while not is_empty("lemon"):
        use("lemon", "bowl")
    assert is_in("juice", "bowl")
