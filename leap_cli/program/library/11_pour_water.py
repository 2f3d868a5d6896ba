def pour_water(start_t=0, stop_t=3.10):
    # The action performed right before this was "take kettle". The action performed right
    # after this was "put kettle"
    # objects = [kettle, cup, water]
    # Holding kettle at start.
    # Heard sound of pour at time 0.80 sec to 2.70 sec
    # 1: bring the kettle over the cup
    move("kettle", "cup")
    # 2: tilt it until the cup is full
    while not is_full("cup"):
        use("kettle", "cup")
    assert is_in("water", "cup")
    # 3: level the kettle again
    position("kettle", "cup")
