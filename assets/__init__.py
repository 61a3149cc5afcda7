"""Static files the web app serves: CSS themes (desk light, wall dark), clientside JavaScript."""
