def take_carrot(start_t=0, stop_t=2.10):
    # The action performed right before this was "open fridge". The action performed right
    # after this was "close fridge"
    # objects = [carrot, fridge, bag]
    # Holding nothing at start.
    # Grabbed carrot at time(s) 1.12
    # Go to object from time 0.00 sec to time 0.65 sec
    # 1: reach the carrot in the fridge
    if not is_near("carrot"):
        goto("carrot")
    # 2: pick it up
    if not in_hand("carrot"):
        grasp("carrot")
        assert in_hand("carrot")
