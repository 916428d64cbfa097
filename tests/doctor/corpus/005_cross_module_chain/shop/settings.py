RATES_URL = "https://rates.example.com/latest"
