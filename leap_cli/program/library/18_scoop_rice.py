def scoop_rice(start_t=0, stop_t=2.60):
    # The action performed right before this was "take spoon". The action performed right after
    # this was "put rice"
    # objects = [rice, spoon, pot, plate]
    # Holding spoon at start.
    # Heard sound of metal collision at time 0.60 sec to 0.85 sec
    # 1: scoop rice from the pot
    if not is_empty("pot"):
        use("spoon", "rice")
        assert is_in("rice", "spoon")
    # 2: bring it over the plate and tip it out
    move("spoon", "plate")
    use("spoon", "plate")
    assert is_in("rice", "plate")
