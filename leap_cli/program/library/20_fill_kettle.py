def fill_kettle(start_t=0, stop_t=5.20):
    # The action performed right before this was "open kettle". The action performed right
    # after this was "turn off tap"
    # objects = [kettle, tap, sink]
    # Holding kettle at start.
    # Grabbed tap at time(s) 0.50
    # Released tap at time(s) 0.90
    # Heard sound of water at time 0.85 sec to 4.90 sec
    # 1: hold the kettle under the tap
    position("kettle", "tap")
    # 2: turn the water on
    if not is_on("tap"):
        grasp("tap")
        use("tap")
        release("tap")
    # 3: keep it under the water until it is full
    while not is_full("kettle"):
        use("kettle", "tap")
    assert is_full("kettle")
