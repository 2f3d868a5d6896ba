def wash_cucumber(start_t=0, stop_t=6.20):
    # The action performed right before this was "take cucumber". The action performed right
    # after this was "put cucumber"
    # objects = [cucumber, tap, sink]
    # Holding cucumber at start.
    # Grabbed tap at time(s) 0.62
    # Released tap at time(s) 0.98
    # Heard sound of water at time 1.05 sec to 5.60 sec
    # 1: get the cucumber
    if not in_hand("cucumber"):
        grasp("cucumber")
    # 2: turn on the tap
    if not is_on("tap"):
        grasp("tap")
        use("tap")
        release("tap")
        assert is_on("tap")
    # 3: rub it under the water until it is clean
    while not is_clean("cucumber"):
        use("cucumber", "tap")
    assert is_clean("cucumber")
