def insert_plate(start_t=0, stop_t=2.40):
    # The action performed right before this was "rinse plate". The action performed right
    # after this was "take bowl"
    # objects = [plate, dishwasher, bowl]
    # Holding plate at start.
    # Grabbed dishwasher at time(s) 0.20
    # Released dishwasher at time(s) 0.70
    # Released plate at time(s) 2.05
    # Heard sound of ceramic collision at time 1.90 sec to 2.12 sec
    # 1: make sure the dishwasher is open
    if not is_open("dishwasher"):
        grasp("dishwasher")
        use("dishwasher")
        release("dishwasher")
    # 2: slot the plate into the rack and let go
    move("plate", "dishwasher")
    position("plate", "dishwasher")
    release("plate")
    assert is_in("plate", "dishwasher")
