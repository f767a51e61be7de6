"""Opens and clicks: recorded per delivery, classified human or machine, counted without double counting."""
