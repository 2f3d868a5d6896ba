def dry_hand(start_t=0, stop_t=3.50):
    # The action performed right before this was "turn off tap". The action performed right
    # after this was "take plate"
    # objects = [hand, towel, sink]
    # Holding nothing at start.
    # Grabbed towel at time(s) 0.55
    # Released towel at time(s) 3.20
    # Go to object from time 0.00 sec to time 0.45 sec
    # Heard sound of cloth collision at time 0.90 sec to 3.00 sec
    # 1: take the towel
    goto("towel")
    grasp("towel")
    # 2: rub the hands with it until they are dry
    while not is_dry("hand"):
        use("towel", "hand")
    assert is_dry("hand")
    # 3: hang it back
    release("towel")
