def put_plate(start_t=0, stop_t=1.84):
    # The action performed right before this was "rinse plate". The action performed right
    # after this was "take fork"
    # objects = [plate, rack_drying, sink]
    # Holding plate at start.
    # Released plate at time(s) 1.52
    # Heard sound of ceramic collision at time 1.40 sec to 1.60 sec
    # 1: bring the plate to the drying rack
    if not is_near("rack_drying"):
        move("plate", "rack_drying")
    # 2: set it down and let go
    position("plate", "rack_drying")
    release("plate")
    assert is_on_top("plate", "rack_drying")
